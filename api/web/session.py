"""Who is signed in: the session cookie, looked up on the server; the CSRF token that every form carries."""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from engine.accounts import Actor
from engine.people import sessions
from engine.reminders import inbox
from engine.runtime import Runtime

COOKIE = "closeloop_session"
# Before sign-in there is no session to tie a token to: the sign-in form's token is also set as a cookie and
# the two must match (a forged cross-site form cannot read or set the cookie).
SIGNIN_COOKIE = "closeloop_signin"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Visitor:
    """A signed-in person: the engine's actor, their session id and the CSRF token their forms carry."""

    actor: Actor
    session_id: str
    unread: int = 0  # unread reminders, for the navigation's inbox link

    @property
    def csrf(self) -> str:
        """The token every form of this session must send back."""
        return sessions.csrf_token(self.session_id)


def _limits(rt: Runtime) -> tuple[dt.timedelta, dt.timedelta]:
    s = rt.settings
    return dt.timedelta(minutes=s.web_session_idle_minutes), dt.timedelta(hours=s.web_session_max_hours)


async def visitor(request: Request) -> Visitor | None:
    """The signed-in visitor of this request, or None (no cookie, or a session ended, expired or deactivated)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    rt: Runtime = request.app.state.runtime
    idle, longest = _limits(rt)

    def find():
        with rt.store.read() as conn:
            live = sessions.find_session(conn, clock=rt.clock, session_id=session_id, idle=idle, longest=longest)
            return live, (inbox.unread_count(conn, live.actor.username) if live is not None else 0)

    live, unread = await dbcalls.in_reader(rt, find)
    if live is None:
        return None
    if live.stale:
        def touch() -> None:
            with rt.store.write() as conn:
                sessions.touch(conn, clock=rt.clock, row_id=live.row_id)

        await dbcalls.in_writer(rt, touch)
    return Visitor(live.actor, session_id, unread)


def csrf_ok(form, expected: str) -> bool:
    """Whether the form sent back the expected CSRF token."""
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str) or not expected:
        return False
    # As bytes: compare_digest raises TypeError for a str holding any non-ASCII character ('²' was a 500).
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def new_signin_token() -> str:
    """A fresh token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(24)


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    """A cookie scripts cannot read, not sent on cross-site posts, and Secure when the page came over HTTPS."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
