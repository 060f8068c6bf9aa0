"""An HTTP transport that connects only to addresses it has just checked, closing the DNS-rebinding window."""
from __future__ import annotations

import ssl
import typing

import httpcore
import httpx

from engine.delivery.safety import public_addresses


class CheckedBackend(httpcore.SyncBackend):
    """Resolves each host itself when connecting, refuses it unless every address is public, and connects to one
    of those very addresses.

    Checking a URL and then letting the HTTP client resolve its name again leaves a window: a name with a zero
    TTL can answer a public address to the check and 127.0.0.1 to the connection. Here the address checked is the
    address connected to. TLS is not touched: httpcore verifies the certificate against the URL's host name,
    and the Host header is the name, whatever address the socket reaches.
    """

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        """Connect to the first of ``host``'s checked addresses that answers (UnsafeURL if any is not public)."""
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in public_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # public_addresses answers at least one address or raises
        raise failure


class CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport whose connections go through CheckedBackend."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context)
        # The pool httpx built is replaced by one like it (HTTP/1.1, the same TLS context) with the checking
        # backend: httpx has no public hook for the backend, httpcore's pool takes one.
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=CheckedBackend())
