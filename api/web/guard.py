"""What every page does first: find the visitor (or send them to sign in) and refuse forms without their token."""
from __future__ import annotations

from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.web import render
from api.web.session import Visitor, csrf_ok, visitor


def to_signin(request: Request) -> RedirectResponse:
    """Send the browser to the sign-in page, to come back here afterwards."""
    return RedirectResponse(f"/signin?next={quote(request.url.path, safe='/')}", status_code=303)


async def signed_in(request: Request) -> Visitor | Response:
    """The visitor, or the redirect to the sign-in page that the route should return."""
    found = await visitor(request)
    return found if found is not None else to_signin(request)


def refused(request: Request, who: Visitor | None) -> Response:
    """The 403 page for a form posted without its CSRF token (or with another session's)."""
    return render.page(request, "error.html", who, status=403, message_key="forbidden")


def not_found(request: Request, who: Visitor | None) -> Response:
    """The 404 page: the same for an item that is missing and one outside the visitor's scope."""
    return render.page(request, "error.html", who, status=404, message_key="not_found")


async def read_form(request: Request, who: Visitor | None, **limits):
    """The posted form, or the 400 page when its body cannot be read (a broken multipart body, more fields or
    files than ``limits`` allow): the framework's own answer would be JSON, which a browser shows as code."""
    try:
        return await request.form(**limits)
    except HTTPException as exc:  # Starlette's refusal of a body it could not parse; nothing was read into use
        if exc.status_code != 400:
            raise
        return render.page(request, "error.html", who, status=400, message_key="unreadable_form")


async def checked_form(request: Request, who: Visitor, **limits):
    """The posted form, or the page to answer instead: 400 when it cannot be read, 403 when its CSRF token is
    missing or wrong."""
    form = await read_form(request, who, **limits)
    if isinstance(form, Response):
        return form
    return form if csrf_ok(form, who.csrf) else refused(request, who)


async def posted(request: Request, **limits) -> tuple[Visitor, object] | Response:
    """The visitor and their form with its CSRF token checked, or the response to return instead
    (the redirect to sign in, the 400 page or the 403 page)."""
    who = await signed_in(request)
    if isinstance(who, Response):
        return who
    form = await checked_form(request, who, **limits)
    return form if isinstance(form, Response) else (who, form)
