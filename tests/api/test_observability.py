"""Request ids, the structured access log and /metrics, through the app on both stores.

Counters are the process's own, shared with every test that ran before in it: each check reads a
counter before and after and asserts the difference. Time moves on the injected clock only.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from engine.config import Settings
from engine.runtime import Runtime
from tests.helpers import assert_problem, drive, fire, new_item

ASSIGN = {"trigger": "assign", "fields": {"due_date": "2026-04-30", "measures": "新建床位200张"}}


def samples(client) -> dict[tuple, float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_response_carries_a_request_id_the_client_may_choose(client, world):
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    assert client.get("/healthz").headers["x-request-id"] != made  # a new one for each request
    assert client.get("/healthz", headers={"X-Request-ID": "proxy-7f3a.42"}).headers["x-request-id"] == "proxy-7f3a.42"
    for insane in ("a" * 65, "两个字".encode(), "x y", ""):
        chosen = client.get("/healthz", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert chosen not in (insane, "两个字") and len(chosen) == 32
    # Refusals too, including those made before any route runs (the body and header limits).
    for response in (client.get("/api/v1/items/nope", headers=world.h("aud")), client.get("/api/v1/me"),
                     client.post("/api/v1/items", content=b"x" * (2 * 1024 * 1024), headers=world.h("reg")),
                     client.get("/healthz", headers={"X-Big": "v" * (64 * 1024)})):
        assert response.status_code in (404, 401, 413, 431)
        assert len(response.headers["x-request-id"]) == 32


def test_the_access_log_is_one_json_line_per_request_naming_the_caller_not_their_secrets(client, world, caplog):
    caplog.set_level(logging.INFO, logger="closeloop.access")
    item = new_item(client, world)
    response = client.get(f"/api/v1/items/{item['id']}", headers={**world.h("aud"), "X-Request-ID": "req-1"})
    assert client.get("/api/v1/items/ZG-none").status_code == 401
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "closeloop.access"]
    assert [line["status"] for line in lines] == [201, 200, 401]
    created, read, refused = lines
    assert (created["method"], created["path"], created["route"], created["user"]) == (
        "POST", "/api/v1/items", "/api/v1/items", "reg")
    assert (read["request_id"], read["route"], read["user"]) == ("req-1", "/api/v1/items/{item_id}", "aud")
    assert read["path"] == f"/api/v1/items/{item['id']}" and read["ms"] >= 0 and read["client"] == "testclient"
    assert refused["user"] is None
    assert response.headers["x-request-id"] == "req-1"
    written = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (world.tokens["aud"], world.tokens["reg"], "公办幼儿园"):  # tokens and bodies never logged
        assert secret not in written


def test_metrics_count_requests_by_route_template_and_committed_transitions_by_trigger(client, world):
    item = new_item(client, world)
    before = samples(client)
    assert fire(client, world, item, ASSIGN, "sup").status_code == 200
    assert_problem(fire(client, world, item, {"trigger": "assign"}, "sup"), 409)  # refused: not counted
    for path in ("/nope/1", "/nope/2", "/api/v1/items/ZG-x/nothing"):
        assert client.get(path).status_code == 404
    after = samples(client)
    assert value(after, "closeloop_transitions_total", trigger="assign") - value(
        before, "closeloop_transitions_total", trigger="assign") == 1
    route = "/api/v1/items/{item_id}/transitions"
    for status in ("200", "409"):
        key = dict(method="POST", route=route, status=status)
        assert value(after, "closeloop_http_requests_total", **key) - value(
            before, "closeloop_http_requests_total", **key) == 1
    assert value(after, "closeloop_http_request_duration_seconds_count", method="POST", route=route) - value(
        before, "closeloop_http_request_duration_seconds_count", method="POST", route=route) == 2
    # Paths no route took share one label, so a scan of random URLs cannot grow the figures without bound.
    assert value(after, "closeloop_http_requests_total", method="GET", route="unmatched", status="404") - value(
        before, "closeloop_http_requests_total", method="GET", route="unmatched", status="404") == 3
    assert not any("nope" in str(labels) for _name, labels in after)
    assert value(after, "process_resident_memory_bytes") > 0


def _oldest(rt, sql: str) -> dt.datetime | None:
    with rt.store.read() as conn:
        found = conn.execute(sa.text(sql)).scalar()
    return None if found is None else (dt.datetime.fromisoformat(found) if isinstance(found, str) else found)


def test_backlog_gauges_are_read_from_the_database(client, world, rt, clock):
    quiet = samples(client)
    assert value(quiet, "closeloop_outbox_pending") == 0 and value(quiet, "closeloop_delivery_lag_seconds") == 0
    items = [new_item(client, world) for _ in range(3)]
    drive(client, world, rt, items[0], "rectifying")  # a state with reminders: the sweep has work due later
    clock.advance(days=200)
    found = samples(client)
    with rt.store.read() as conn:
        pending = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")).scalar()
    assert pending >= 4 and value(found, "closeloop_outbox_pending") == pending
    now = clock.now().replace(tzinfo=None)
    oldest = _oldest(rt, "SELECT min(created_at) FROM outbox WHERE dispatched_at IS NULL")
    assert value(found, "closeloop_delivery_lag_seconds") == pytest.approx((now - oldest).total_seconds(), abs=1)
    due = _oldest(rt, "SELECT min(next_reminder_at) FROM items WHERE next_reminder_at IS NOT NULL")
    assert due is not None and due < now
    assert value(found, "closeloop_sweep_lag_seconds") == pytest.approx((now - due).total_seconds(), abs=1)


def test_a_metrics_token_when_set_is_required(db_url, clock):
    runtime = Runtime.open(Settings(database_url=db_url, metrics_token="scrape-me"), clock=clock)
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as scraper:
            assert_problem(scraper.get("/metrics"), 401)
            assert_problem(scraper.get("/metrics", headers={"Authorization": "Bearer scrape-you"}), 401)
            allowed = scraper.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert allowed.status_code == 200 and "closeloop_outbox_pending" in allowed.text
    finally:
        runtime.store.dispose()


def test_the_background_jobs_count_what_they_did(client, world, rt, clock):
    from engine.jobs import DELIVERY_JOB, SWEEP_JOB, scheduler

    jobs = scheduler(rt)
    item = new_item(client, world)
    drive(client, world, rt, item, "rectifying")
    clock.advance(days=60)  # past the deadline: reminders and escalations fall due
    before = samples(client)
    jobs.get_job(SWEEP_JOB).func(rt)
    jobs.get_job(DELIVERY_JOB).func(rt)
    after = samples(client)
    with rt.store.read() as conn:
        issued = conn.execute(sa.text("SELECT count(*) FROM notices WHERE status = 'issued'")).scalar()
    assert issued >= 1
    assert value(after, "closeloop_sweep_items_total") - value(before, "closeloop_sweep_items_total") == 1
    assert value(after, "closeloop_sweep_notices_total", outcome="issued") - value(
        before, "closeloop_sweep_notices_total", outcome="issued") == issued
    assert value(after, "closeloop_sweep_duration_seconds_count") - value(
        before, "closeloop_sweep_duration_seconds_count") == 1
    assert value(after, "closeloop_outbox_pending") == 0  # delivery dispatched what the sweep queued


def test_security_headers_on_api_answers_pages_and_files(client, world, rt):
    from tests.web.support import sign_in

    for response in (client.get("/healthz"), client.get("/api/v1/items", headers=world.h("aud")),
                     client.get("/api/v1/items/ZG-none", headers=world.h("aud")), client.get("/static/app.css"),
                     client.get("/signin")):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["referrer-policy"] == "no-referrer", response.url
    sign_in(client, rt, "sup")
    for path in ("/signin", "/items", "/items/ZG-2026-999999", "/dashboard"):
        page = client.get(path)
        assert page.headers["content-type"].startswith("text/html"), path
        assert page.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"], path
        assert "default-src 'self'" in page.headers["content-security-policy"], path
        assert page.headers["cache-control"] == "no-store", path
        assert page.headers.get_list("x-content-type-options") == ["nosniff"], path
