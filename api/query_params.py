"""Query-string checks shared by the read routes."""
from __future__ import annotations

from starlette.requests import Request

from engine.errors import InvalidInput


def refuse_unknown(request: Request, known: set[str]) -> None:
    """422 naming the first query parameter the route does not take (a typo would otherwise be ignored)."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r} (known: {', '.join(sorted(known))})",
                           field=unknown[0])
