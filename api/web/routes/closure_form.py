"""The printable 整改销号 form of a closed item: what was found, the measures, the evidence, who verified and
who signed off and when, and the item's chain head with the chain check; laid out for A4."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from api.web import guard, i18n, render
from engine import accounts, history, queries
from engine.audit.item_chain import check_item_chain
from engine.definitions.workflow import WorkflowDef
from engine.errors import NotFound
from engine.inputs import SEVERITIES, SOURCES
from engine.people.users import display_names
from engine.reports.population import StateSets

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class SignOff:
    """The records the form names: the verification (None if the workflow has none) and the sign-off."""

    verification: dict | None
    sign_off: dict


def sign_off_records(definition: WorkflowDef, records: list[dict]) -> SignOff:
    """The last record (the one that closed the item) and, before it, the last one a verifier fired."""
    closing = records[-1]
    verification = None
    for record in reversed(records[:-1]):
        transition = definition.transition(record["trigger"], record["from_state"] or "")
        if transition is not None and "verifier" in transition.role_set:
            verification = record
            break
    return SignOff(verification, closing)


def evidence_of(records: list[dict]) -> list[dict]:
    """Every piece of evidence sent with the item's actions, once each (by SHA-256), first sending first."""
    seen: dict[str, dict] = {}
    for record in records:
        for e in record["evidence"]:
            seen.setdefault(e["sha256"], {"name": e.get("name") or e.get("url") or "", "sha256": e["sha256"],
                                          "at": record["at"], "actor": record["actor"]})
    return list(seen.values())


@router.get("/items/{ref}/form")
async def closure_form(request: Request, ref: str) -> Response:
    """The 销号 form of a closed item in the visitor's scope; a page saying it is not closed yet (409) otherwise."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    lang = i18n.language(request)

    def read():
        with rt.store.read() as conn:
            item = queries.get_visible(conn, who.actor, ref)
            records = history.item_history(conn, item["id"])
            people = {r["actor"] for r in records} | {item["created_by"]}
            unit = accounts.unit_by_code(conn, item["unit_code"])
            return item, records, display_names(conn, people), unit.name if unit is not None else item["unit_code"]

    try:
        item, records, names, unit_name = await dbcalls.in_reader(rt, read)
    except NotFound:
        return guard.not_found(request, who)
    definition = rt.registry.by_hash(item["workflow_hash"]).definition
    state_title = i18n.title_of(definition.state(item["state"]).title, item["state"], lang)
    if item["state"] not in StateSets.of(rt.registry).closed or not records:
        return render.page(request, "closure_form_unready.html", who, status=409, number=item["number"],
                           state_title=state_title)
    steps = sign_off_records(definition, records)
    progress = [{**r, "step": i18n.trigger_title(definition, r["trigger"], lang), "who": names.get(r["actor"], r["actor"])}
                for r in records if r["comment"]]
    return render.page(
        request, "closure_form.html", who, item=item, unit_name=unit_name, names=names, state_title=state_title,
        source=dict(i18n.choices("sources", SOURCES, lang)).get(item["source"], item["source"]),
        severity=dict(i18n.choices("severities", SEVERITIES, lang)).get(item["severity"], item["severity"]),
        workflow_title=i18n.title_of(definition.title, item["workflow"], lang), progress=progress,
        evidence=evidence_of(records), verification=steps.verification, sign_off=steps.sign_off,
        chain=check_item_chain(records, item["history_hash"]), printed_at=rt.clock.now())
