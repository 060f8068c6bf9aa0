"""Sign-in and sign-out: a password checked against its Argon2 hash, then a server-side session."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api import dbcalls
from api.throttle import AuthThrottle
from api.web import guard, render
from api.web.session import COOKIE, SIGNIN_COOKIE, csrf_ok, new_signin_token, set_cookie, visitor
from engine.people import sessions
from engine.runtime import Runtime

router = APIRouter(include_in_schema=False)


def _next(value: object) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _form(request: Request, *, status: int = 200, error: str | None = None, username: str = "") -> Response:
    token = new_signin_token()
    response = render.page(request, "signin.html", None, status=status, error=error, username=username,
                           signin_csrf=token, next=_next(request.query_params.get("next")))
    set_cookie(request, response, SIGNIN_COOKIE, token)
    return response


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    """The sign-in form (already signed in: on to the home page)."""
    if await visitor(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _form(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the password; on success start a session and go on. Repeated failures answer 429 for a while."""
    rt: Runtime = request.app.state.runtime
    form = await guard.read_form(request, None, max_files=0, max_fields=10)
    if isinstance(form, Response):
        return form
    if not csrf_ok(form, request.cookies.get(SIGNIN_COOKIE, "")):
        return guard.refused(request, None)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    throttle: AuthThrottle = request.app.state.signin_throttle
    address = request.client.host if request.client else ""
    # Counted per address and per username: one guesser cannot try many passwords on one account from many places.
    keys = (f"address:{address}", f"user:{username.lower()}")
    waits = [w for w in (throttle.retry_after(key, "") for key in keys) if w is not None]
    t = render.i18n.translator(render.i18n.language(request))
    if waits:
        response = _form(request, status=429, error=t("too_many", max(waits)), username=username)
        response.headers["Retry-After"] = str(max(waits))
        return response

    def check() -> int | None:
        with rt.store.read() as conn:
            return sessions.check_credentials(conn, username=username, password=password)

    user_id = await dbcalls.in_reader(rt, check)
    if user_id is None:
        for key in keys:
            throttle.failed(key)
        return _form(request, status=401, error=t("bad_sign_in"), username=username)

    def start() -> str:
        with rt.store.write() as conn:
            return sessions.start_session(conn, clock=rt.clock, user_id=user_id)

    session_id = await dbcalls.in_writer(rt, start)
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    set_cookie(request, response, COOKIE, session_id)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session on the server (its cookie stops working everywhere) and forget the cookie."""
    rt: Runtime = request.app.state.runtime
    found = await visitor(request)
    if found is None:
        return guard.to_signin(request)
    form = await guard.checked_form(request, found, max_files=0, max_fields=5)
    if isinstance(form, Response):
        return form

    def end() -> None:
        with rt.store.write() as conn:
            sessions.sign_out(conn, clock=rt.clock, session_id=found.session_id)

    await dbcalls.in_writer(rt, end)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
