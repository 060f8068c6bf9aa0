"""Workflows: what exists, and one workflow's states, transitions and diagram."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import CurrentActor, RuntimeDep
from api.models_admin import WorkflowDetail, WorkflowList
from api.problem_shapes import errors
from api.respond import json_response
from engine.definitions.diagram import mermaid
from engine.errors import NotFound
from engine.registry import UnknownWorkflow

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


@router.get("", response_model=WorkflowList, summary="List the current workflows", operation_id="list_workflows",
            responses=errors(401))
async def list_workflows(actor: CurrentActor, rt: RuntimeDep) -> Response:
    """Name, version, content hash and titles of each workflow new items can start on."""
    out = []
    for name in rt.registry.names():
        wf = rt.registry.current(name)
        out.append({"name": name, "version": wf.definition.version, "hash": wf.hash,
                    "title": wf.definition.title.model_dump(), "initial": wf.definition.initial,
                    "default": name == rt.settings.default_workflow})
    return json_response({"data": out})


@router.get("/{name}", response_model=WorkflowDetail, summary="One workflow: states, transitions and a Mermaid diagram",
            operation_id="get_workflow", responses=errors(401, 404))
async def get_workflow(name: str, actor: CurrentActor, rt: RuntimeDep) -> Response:
    """The current definition of ``name`` (the hashes of older versions still in use are listed too)."""
    try:
        wf = rt.registry.current(name)
    except UnknownWorkflow:
        raise NotFound(f"workflow {name!r} not found") from None
    body = wf.definition.model_dump(mode="json")
    body["hash"] = wf.hash
    body["versions"] = sorted(c.hash for c in rt.registry.versions(name))
    body["mermaid"] = mermaid(wf.definition)
    return json_response(body)
