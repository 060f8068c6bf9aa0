"""Numbers the pages read from forms and query strings: anything but plain digits is treated as absent.

Regressions: a version of '²' or '①' (str.isdigit() is true, int() refuses them), or of more digits than int()
reads, made the item action, the batch and the ledger page answer 500.
"""
from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import new_item, table_counts
from tests.web.support import sign_in

NOT_NUMBERS = ["²", "①", "٣" * 20, "9" * 5000, "-1"]


@pytest.mark.parametrize("version", NOT_NUMBERS)
def test_an_item_action_with_a_version_that_is_no_number_acts_without_one(client, world, rt, version):
    item = new_item(client, world)
    csrf = sign_in(client, rt, "sup")
    response = client.post(f"/items/{item['number']}/act", follow_redirects=False,
                           data={"csrf": csrf, "trigger": "cancel", "comment": "重复登记", "version": version})
    assert response.status_code == 303, response.text[:300]
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")).json()["state"] == "cancelled"


@pytest.mark.parametrize("version", NOT_NUMBERS)
def test_a_batch_with_a_version_that_is_no_number_takes_the_item_as_listed_now(client, world, rt, version):
    item = new_item(client, world)
    csrf = sign_in(client, rt, "sup")
    due = (rt.today() + dt.timedelta(days=9)).isoformat()
    response = client.post("/items/batch", data={"csrf": csrf, "action": "assign", "unit": "DEPT-A", "due_date": due,
                                                 "item": f"{item['number']}@{version}"})
    assert response.status_code == 200, response.text[:300]
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")).json()["state"] == "assigned"


@pytest.mark.parametrize("count", NOT_NUMBERS)
def test_the_ledger_page_shows_no_import_outcome_for_counts_that_are_no_numbers(client, world, rt, count):
    sign_in(client, rt, "sup")
    before = table_counts(rt)
    page = client.get("/ledger", params={"created": count, "unchanged": "1"})
    assert page.status_code == 200 and 'id="import-outcome"' not in page.text
    assert client.get("/ledger", params={"created": "3", "unchanged": count}).status_code == 200
    assert table_counts(rt) == before
