"""The workflows: a list, and each one's state diagram (an SVG drawn here) with its states and transitions."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api.web import guard, i18n, render
from api.web.drawing.statediagram import ranks, state_diagram
from engine.definitions.workflow import StateDef, WorkflowDef
from engine.registry import UnknownWorkflow

router = APIRouter(include_in_schema=False)


@router.get("/workflows")
async def workflow_list(request: Request) -> Response:
    """The current workflows with their titles, versions and descriptions."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    lang = i18n.language(request)
    rows = []
    for name in rt.registry.names():
        definition = rt.registry.current(name).definition
        rows.append({"name": name, "title": i18n.title_of(definition.title, name, lang), "version": definition.version,
                     "description": definition.description or "", "states": len(definition.states),
                     "transitions": len(definition.transitions), "default": name == rt.settings.default_workflow})
    return render.page(request, "workflows.html", who, workflows=rows)


def _due(state: StateDef, t, lang: str) -> str:
    """When the work in a state is due, in words."""
    if state.due is None:
        return ""
    if state.due.within is not None:
        return t("due_within", i18n.duration(state.due.within, lang))
    if state.due.every is not None:
        return t("due_every", i18n.duration(state.due.every, lang))
    return t("due_field")


def state_rows(definition: WorkflowDef, lang: str) -> list[dict]:
    """Each state as the table shows it: titles, kind, deadline, reminders and escalation levels."""
    t = i18n.translator(lang)
    rank = ranks(definition)
    rows = []
    for s in sorted(definition.states, key=lambda s: rank[s.name]):
        kinds = [t("initial_state")] if s.name == definition.initial else []
        kinds += [t("final_state")] if s.final else []
        kinds += [t("clock_paused")] if s.clock == "paused" else []
        reminders = [t("before_deadline", i18n.duration(r.before, lang)) if r.before is not None else
                     t("overdue_every", i18n.duration(r.overdue_every, lang)) for r in s.reminders]
        escalation = [f"{t('level_' + e.level)}: {t('after_overdue', i18n.duration(e.after_overdue, lang))}"
                      for e in s.escalation]
        rows.append({"name": s.name, "title": i18n.title_of(s.title, s.name, lang), "kinds": kinds,
                     "due": _due(s, t, lang), "reminders": reminders, "escalation": escalation})
    return rows


def transition_rows(definition: WorkflowDef, lang: str) -> list[dict]:
    """Each transition as the table shows it: title, from, to, roles, what it requires, guards and effects."""
    t = i18n.translator(lang)
    titles = {s.name: i18n.title_of(s.title, s.name, lang) for s in definition.states}
    return [{"trigger": tr.trigger, "title": i18n.title_of(tr.title, tr.trigger, lang),
             "source": [titles[s] for s in tr.source], "dest": titles[tr.dest],
             "roles": [t(f"role_{r}") for r in tr.roles], "requires": [t(r) for r in tr.requires],
             "guards": tr.guards, "effects": tr.effects} for tr in definition.transitions]


@router.get("/workflows/{name}")
async def workflow_page(request: Request, name: str) -> Response:
    """One workflow: its diagram drawn on the server, and its states and transitions as tables."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    lang = i18n.language(request)
    try:
        compiled = rt.registry.current(name)
    except UnknownWorkflow:
        return render.page(request, "error.html", who, status=404, message_key="no_workflow")
    definition = compiled.definition
    title = i18n.title_of(definition.title, name, lang)
    diagram = state_diagram(definition, title=f"{i18n.translator(lang)('diagram')}: {title}",
                            state_title=lambda s: i18n.title_of(s.title, s.name, lang),
                            transition_title=lambda tr: i18n.title_of(tr.title, tr.trigger, lang))
    return render.page(request, "workflow.html", who, workflow={"name": name, "title": title,
                                                                "version": definition.version,
                                                                "description": definition.description or "",
                                                                "hash": compiled.hash},
                       diagram=diagram, states=state_rows(definition, lang),
                       transitions=transition_rows(definition, lang))
