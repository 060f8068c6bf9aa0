"""The item list as API.md promises it, on both stores: several values of a filter mean any of them (repeated
or comma-separated), q= also finds numbers and external references, numbers are found whatever their case,
count=true adds the total, and an unknown value of an enumerated filter names the known ones."""
from __future__ import annotations

import pytest

from tests.helpers import drive, new_item


def _numbers(client, world, query: str, user: str = "sup") -> list[str]:
    response = client.get(f"/api/v1/items?{query}", headers=world.h(user))
    assert response.status_code == 200, response.text
    return sorted(i["number"] for i in response.json()["data"])


@pytest.fixture
def three(client, world, rt):
    """One item in each of DEPT-A (assigned), SUB-A1 (identified) and DEPT-B (rectifying), of three sources."""
    a = drive(client, world, rt, new_item(client, world, source="inspection", severity="high",
                                          external_ref="督查〔2026〕12号"), "assigned")
    a1 = new_item(client, world, unit="SUB-A1", source="audit", severity="low")
    b = drive(client, world, rt, new_item(client, world, unit="DEPT-B", source="complaint", severity="medium",
                                          external_ref="RPT-77"), "rectifying")
    return a, a1, b


def test_repeated_and_comma_values_mean_any_of_them(client, world, three):
    a, a1, b = three
    expected = sorted([a["number"], b["number"]])
    assert _numbers(client, world, "state=assigned&state=rectifying") == expected
    assert _numbers(client, world, "state=assigned,rectifying") == expected
    assert _numbers(client, world, "state=assigned, rectifying&state=assigned") == expected
    assert _numbers(client, world, "source=inspection,complaint") == expected
    assert _numbers(client, world, "severity=high&severity=medium") == expected
    assert _numbers(client, world, "unit=SUB-A1,DEPT-B") == sorted([a1["number"], b["number"]])
    assert _numbers(client, world, "unit=DEPT-A,SUB-A1") == sorted([a["number"], a1["number"]])
    assert _numbers(client, world, "assignee=asg_a,asg_b") == sorted([a["number"], b["number"]])
    # Filters still combine with AND between them.
    assert _numbers(client, world, "state=assigned,rectifying&unit=DEPT-B") == [b["number"]]


@pytest.mark.parametrize("query, field", [
    ("state=assigned,nonexistent", "state"), ("source=inspection,rumour", "source"),
    ("severity=,high", "severity"), ("light=red,purple", "light"), ("workflow=standard,nope", "workflow"),
    ("unit=DEPT-A,NOPE", "unit"), ("state=", "state"),
])
def test_a_bad_value_among_several_is_named(client, world, query, field):
    response = client.get(f"/api/v1/items?{query}", headers=world.h("sup"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_a_unit_outside_the_scope_among_several_is_refused_like_a_missing_one(client, world, three):
    response = client.get("/api/v1/items?unit=DEPT-A,DEPT-B", headers=world.h("sup_a"))
    assert response.status_code == 422 and response.json()["field"] == "unit"


def test_q_finds_numbers_and_external_references_whatever_their_case(client, world, three):
    a, _a1, b = three
    assert _numbers(client, world, f"q={a['number'].lower()}") == [a["number"]]
    assert _numbers(client, world, "q=〔2026〕12") == [a["number"]]
    assert _numbers(client, world, "q=rpt-7") == [b["number"]]
    assert _numbers(client, world, "q=学位缺口") == sorted(i["number"] for i in three)
    assert _numbers(client, world, "q=100%") == []  # LIKE's own characters are matched as themselves


def test_an_item_is_found_by_its_number_in_any_case(client, world, three):
    a = three[0]
    for ref in (a["number"], a["number"].lower(), a["number"].title()):
        response = client.get(f"/api/v1/items/{ref}", headers=world.h("sup"))
        assert response.status_code == 200 and response.json()["id"] == a["id"], ref


def test_count_true_adds_the_total_of_every_page(client, world, three):
    page = client.get("/api/v1/items?limit=1&count=true&state=assigned,identified,rectifying",
                      headers=world.h("sup")).json()
    assert page["total"] == 3 and len(page["data"]) == 1 and page["next_cursor"]
    following = client.get(f"/api/v1/items?limit=1&count=true&state=assigned,identified,rectifying"
                           f"&cursor={page['next_cursor']}", headers=world.h("sup")).json()
    assert following["total"] == 3 and following["data"][0]["id"] != page["data"][0]["id"]
    scoped = client.get("/api/v1/items?count=true", headers=world.h("sup_a")).json()
    assert scoped["total"] == 2  # DEPT-A and SUB-A1 only
    assert "total" not in client.get("/api/v1/items", headers=world.h("sup")).json()


def test_a_cursor_belongs_to_its_filters_whatever_their_order(client, world, three):
    first = client.get("/api/v1/items?limit=1&state=assigned,rectifying", headers=world.h("sup")).json()
    other = client.get(f"/api/v1/items?limit=1&state=identified&cursor={first['next_cursor']}",
                       headers=world.h("sup"))
    assert other.status_code == 422 and other.json()["field"] == "cursor"


def test_the_openapi_document_lists_the_values_of_the_enumerated_filters(client):
    parameters = {p["name"]: p for p in client.get("/openapi.json").json()["paths"]["/api/v1/items"]["get"]
                  ["parameters"]}
    for name, enum in (("state", "State"), ("source", "Source"), ("severity", "Severity"), ("light", "Light")):
        assert parameters[name]["schema"] == {"type": "array", "items": {"$ref": f"#/components/schemas/{enum}"}}
    assert parameters["workflow"]["schema"]["items"]["enum"]
    assert "comma" in parameters["unit"]["description"]
    assert parameters["count"]["schema"]["type"] == "boolean"
