"""One over-limit upload, one answer: 413 of the route's own problem type whether the size was declared in
Content-Length, found while the body streamed, or found by the store, and nothing kept."""
from __future__ import annotations

import pytest

from tests.evidence_samples import PDF
from tests.helpers import assert_problem, new_item, table_counts

BOUNDARY = "limit-boundary"


def _multipart(name: str, content: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def _streamed(body: bytes):
    for start in range(0, len(body), 65536):
        yield body[start:start + 65536]


@pytest.mark.parametrize("how", ["declared", "streamed", "within the allowance"])
@pytest.mark.parametrize(("route", "code"), [("evidence", "evidence-too-large"), ("import", "ledger-too-large")])
def test_an_over_limit_upload_is_413_of_the_routes_type_however_its_size_is_found(client, world, rt, tmp_path, how,
                                                                                  route, code):
    rt.settings.evidence_dir = tmp_path / "evidence"
    rt.settings.evidence_max_bytes = rt.settings.ledger_max_bytes = 200_000
    item = new_item(client, world)
    url = f"/api/v1/items/{item['id']}/evidence" if route == "evidence" else "/api/v1/items/import"
    size = 200_001 if how == "within the allowance" else 400_000
    body = _multipart("a.pdf", PDF + b"0" * (size - len(PDF)))
    headers = world.h("reg", **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    before = table_counts(rt)
    answer = client.post(url, content=_streamed(body) if how == "streamed" else body, headers=headers)
    problem = assert_problem(answer, 413)
    assert problem["type"].endswith("/" + code), (how, problem)
    assert table_counts(rt) == before
    assert not [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
