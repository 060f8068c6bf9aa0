"""HEAD is answered wherever GET is, with the GET's headers and no body; a path written out in full answers
405 with ``Allow`` for a method it does not take, rather than a 404 from a route with a parameter."""
from __future__ import annotations

import pytest

from tests.evidence_samples import PDF
from tests.helpers import assert_problem, new_item


@pytest.fixture
def uploaded(client, world, rt, tmp_path):
    rt.settings.evidence_dir = tmp_path / "evidence"
    item = new_item(client, world)
    made = client.post(f"/api/v1/items/{item['id']}/evidence", files={"file": ("整改报告.pdf", PDF, "application/pdf")},
                       headers=world.h("asg_a"))
    assert made.status_code == 201, made.text
    return made.headers["location"]


@pytest.mark.parametrize("path", ["{download}", "/api/v1/ledger.csv", "/api/v1/ledger.xlsx", "/api/v1/items",
                                  "/healthz"])
def test_head_answers_the_gets_headers_without_a_body(client, world, uploaded, path):
    url = path.format(download=uploaded)
    got, head = client.get(url, headers=world.h("reg")), client.head(url, headers=world.h("reg"))
    assert (got.status_code, head.status_code) == (200, 200), (got.text[:200], head.text[:200])
    assert head.content == b""
    for name in ("content-type", "content-disposition", "content-length"):
        if name in got.headers and name != "content-length":
            assert head.headers[name] == got.headers[name], name
    if "content-length" in head.headers and "content-length" in got.headers:
        assert head.headers["content-length"] == got.headers["content-length"]


def test_head_keeps_the_gets_refusals(client, world, uploaded):
    assert client.head(uploaded).status_code == 401
    assert client.head(uploaded, headers=world.h("asg_b")).status_code == 404
    assert client.head("/api/v1/items?colour=red", headers=world.h("reg")).status_code == 422


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/api/v1/items/import", "POST"),
    ("HEAD", "/api/v1/items/import", "POST"),
    ("DELETE", "/api/v1/items", "GET, HEAD, POST"),
    ("OPTIONS", "/api/v1/ledger.csv", "GET, HEAD"),
])
def test_a_method_a_literal_path_does_not_take_is_405_listing_those_it_does(client, world, method, path, allowed):
    answer = client.request(method, path, headers=world.h("reg"))
    assert answer.status_code == 405 and answer.headers["allow"] == allowed, (answer.status_code, answer.headers)
    if method != "HEAD":
        assert_problem(answer, 405)


def test_a_path_with_a_parameter_lists_head_beside_get(client, world):
    item = new_item(client, world)
    answer = client.request("DELETE", f"/api/v1/items/{item['id']}", headers=world.h("reg"))
    assert_problem(answer, 405)
    assert answer.headers["allow"] == "GET, HEAD"
