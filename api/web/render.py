"""Templates: one Jinja2 environment for the package's templates, and the context every page gets."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.web import i18n
from api.web.session import Visitor
from engine.clock import parse_rfc3339

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def local_time(value, tz) -> str:
    """A stored UTC time (datetime or RFC 3339 text) in the deployment's zone, to the minute."""
    if value is None:
        return ""
    when = parse_rfc3339(value) if isinstance(value, str) else value
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def page(request: Request, template: str, visitor: Visitor | None, *, status: int = 200, **values) -> HTMLResponse:
    """Render ``template`` with the language, the visitor and the helpers every page uses."""
    lang = i18n.language(request)
    rt = request.app.state.runtime
    other = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    context = {
        "lang": lang, "t": i18n.translator(lang), "visitor": visitor, "csrf": visitor.csrf if visitor else "",
        "path": request.url.path, "switch_url": f"{request.url.path}?{urlencode({**query, 'lang': other})}",
        "local_time": lambda v: local_time(v, rt.settings.tz), **values,
    }
    response = HTMLResponse(_env.get_template(template).render(context), status_code=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"})
    if "lang" in request.query_params and request.query_params["lang"] in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax")
    return response

