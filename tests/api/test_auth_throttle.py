"""Repeated bad tokens from one address answer 429 with Retry-After; valid callers go on as before.

Time moves on the injected clock only. Both stores.
"""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import assert_problem

BAD = {"Authorization": "Bearer cl_not-a-token-anyone-was-given"}


def test_bad_tokens_past_the_limit_answer_429_until_the_window_ends(client, world, rt, clock):
    limit, window = rt.settings.auth_failure_limit, rt.settings.auth_failure_window_seconds
    assert (limit, window) == (20, 60)
    assert client.get("/api/v1/me", headers=world.h("reg")).status_code == 200  # a caller already at work
    for _ in range(limit):
        assert_problem(client.get("/api/v1/me", headers=BAD), 401)
    clock.advance(seconds=15)
    refused = [client.get("/api/v1/items", headers=BAD) for _ in range(300)]
    for response in refused:
        assert_problem(response, 429)
        assert response.headers["retry-after"] == str(window - 15)
    # The caller at work from the same address is not refused, nor is anyone from another address.
    assert client.get("/api/v1/me", headers=world.h("reg")).json()["username"] == "reg"
    elsewhere = TestClient(client.app, client=("203.0.113.9", 40000), raise_server_exceptions=False)
    assert elsewhere.get("/api/v1/me", headers=world.h("sup")).json()["username"] == "sup"
    assert_problem(elsewhere.get("/api/v1/me", headers=BAD), 401)
    # A token not seen working lately waits with the address that is guessing (so guesses stay capped).
    assert_problem(client.get("/api/v1/me", headers=world.h("aud")), 429)
    clock.advance(seconds=window - 15)
    assert_problem(client.get("/api/v1/me", headers=BAD), 401)  # a new window: counted afresh
    assert client.get("/api/v1/me", headers=world.h("aud")).status_code == 200


def test_missing_or_malformed_credentials_are_not_counted_as_guesses(client, world, rt):
    for _ in range(3 * rt.settings.auth_failure_limit):
        assert_problem(client.get("/api/v1/me"), 401)
        assert_problem(client.get("/api/v1/me", headers={"Authorization": "Basic eDp5"}), 401)
    assert_problem(client.get("/api/v1/me", headers=BAD), 401)


def test_bad_tokens_on_the_transition_lane_count_and_are_refused_alike(client, world, rt):
    """POST .../transitions is served outside FastAPI's dependencies (api.lane): its guesses count the same."""
    item = client.get("/api/v1/items", headers=world.h("reg")).json()["data"]
    target = f"/api/v1/items/{item[0]['id'] if item else 'no-such-item'}/transitions"
    for _ in range(rt.settings.auth_failure_limit):
        assert_problem(client.post(target, json={"trigger": "accept"}, headers=BAD), 401)
    refused = client.post(target, json={"trigger": "accept"}, headers=BAD)
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) > 0
    assert_problem(client.get("/api/v1/me", headers=BAD), 429)  # the same address's count as every route's
    assert client.post(target, json={"trigger": "accept"}, headers=world.h("reg")).status_code != 429
