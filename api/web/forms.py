"""Turning posted forms into the engine's request shapes, and pydantic's refusals into words for the page."""
from __future__ import annotations

from pydantic import ValidationError

from api.problems import STATUS_BY_ERROR
from engine.errors import DomainError
from engine.inputs import error_message


def filled(form, names: tuple[str, ...]) -> dict[str, str]:
    """The named fields that were filled in (blank ones are left out, as a JSON client would omit them)."""
    out = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    return out


def explain(exc: ValidationError) -> str:
    """A validation error as one line: which field, what is wrong."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {error_message(err)}" if where else error_message(err))
    return "; ".join(parts)


def status_of(exc: DomainError) -> int:
    """The status the API gives this refusal, so a page that shows it answers the same."""
    return STATUS_BY_ERROR.get(type(exc), 422)
