"""A small keep-alive HTTP/1.1 load generator on asyncio, so the client costs less CPU than the server."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class LoadResult:
    """Latencies in seconds and status counts of one run."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        """Requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _client(host: str, port: int, make_request: Callable[[int], bytes], counter: list[int], total: int,
                  result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while counter[0] < total:
            n = counter[0]
            counter[0] += 1
            request = make_request(n)
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        writer.close()


def run_load(host: str, port: int, make_request: Callable[[int], bytes], *, total: int, concurrency: int) -> LoadResult:
    """Send ``total`` requests over ``concurrency`` keep-alive connections; return latencies and statuses."""
    result = LoadResult()
    counter = [0]

    async def main() -> None:
        started = time.perf_counter()
        await asyncio.gather(*(_client(host, port, make_request, counter, total, result) for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started

    asyncio.run(main())
    return result


def http_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """Raw HTTP/1.1 request bytes (keep-alive)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
