"""The form fuzzer's parts (tests/web/test_form_fuzz.py): the hostile values, the pages' forms read with the
standard library's HTML parser, the app's web routes, and what an acceptable answer is."""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from api.problems import all_routes

# Each field of each form, and each query parameter a handler reads, is sent with each of these in turn.
HOSTILE = {
    "empty": "", "whitespace": " \t\u3000 ", "zero-width": "\u200b\u200d\ufeff", "superscript two": "²",
    "circled one": "①", "arabic-indic digits": "٣٤٥", "arabic-indic date": "٢٠٢٧-٠٣-٠١",
    "5000 digits": "9" * 5000, "minus one": "-1", "zero": "0", "1e9": "1e9", "NaN": "NaN", "100 kB": "a" * 100_000,
    "chinese and emoji": "整改报告🚧✅", "NUL": "a\x00b", "path": "../../etc/passwd",
    "script": "<script>alert(1)</script>", "year 1": "0001-01-01", "year 9999": "9999-12-31",
    "30 February": "2026-02-30", "garbage": "garbage",
}
# Values by the kind of control: the dates go to date inputs and to parameters no form shows (whose kind is not
# known); a choice (select, radio, checkbox) gets one of each sort of value it is not offered, numbers included
# (the batch's boxes carry "number@version").
DATES = ("arabic-indic date", "year 1", "year 9999", "30 February")
CHOICE = ("empty", "whitespace", "zero-width", "superscript two", "circled one", "5000 digits", "minus one",
          "100 kB", "chinese and emoji", "NUL", "script", "garbage")
# A field already sent its values on one form of its route is sent these on the route's other forms (only its
# fields a person fills in: hidden values and buttons go through the same code on every form of the route), and
# a query parameter already sent its values on another page is sent these (the same filters, the language).
SHORT = ("empty", "zero-width", "superscript two", "5000 digits", "NUL", "year 9999", "garbage")
# Path parameters: besides the real ones, these (an unknown value, one too long, other scripts, controls).
BOGUS_PATH = {
    "unknown": "999999", "unknown hash": "f" * 64, "5000 chars": "9" * 5000, "unicode": "整改①²", "NUL": "a\x00b",
    "minus one": "-1", "zero": "0", "whitespace": " ", "script": "<script>", "path": "../../etc/passwd",
}
EXCLUDED = ("/api/", "/docs", "/redoc", "/openapi.json", "/static")
# What the handlers read by hand that their pages' forms do not carry: query parameters (every page also
# reads ?lang=, in api/web/i18n.py) and posted fields; test_form_fuzz checks this against the handlers' source.
EXTRA = {
    ("GET", "/signin"): ("next",), ("GET", "/items"): ("cursor",), ("GET", "/inbox"): ("cursor", "unread"),
    ("GET", "/items/{ref}"): ("uploaded", "name", "done"), ("GET", "/ledger"): ("created", "unchanged", "checked", "differing", "d"),
    ("GET", "/ledger/download"): ("format",),
}


def labels_for(kind: str | None, first: bool) -> tuple[str, ...]:
    """The hostile values (their labels) to send a field of this kind (None: a query parameter no form shows)."""
    if not first:
        return SHORT
    if kind in ("select", "radio", "checkbox"):
        return CHOICE
    return tuple(label for label in HOSTILE if kind in (None, "date") or label not in DATES)


@dataclass
class Field:
    """One named control of a form: its kind (input type, select, textarea, submit), value and options."""

    name: str
    kind: str
    value: str = ""
    checked: bool = False
    required: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)

    def default(self) -> str:
        """What a browser sends for a select left as the page rendered it (a required one: its first choice)."""
        chosen = [v for v, selected in self.options if selected]
        if chosen:
            return chosen[0]
        filled = [v for v, _ in self.options if v] if self.required else []
        return (filled or [v for v, _ in self.options] or [""])[0]


@dataclass
class Form:
    """A <form>: method, action, enctype and its named controls in page order."""

    method: str
    action: str
    enctype: str
    fields: list[Field] = field(default_factory=list)

    def names(self) -> list[str]:
        """The distinct field names, in page order."""
        return list(dict.fromkeys(f.name for f in self.fields))


class FormParser(HTMLParser):
    """Collects every form of a page with its inputs, selects (and options), textareas and named buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._form = Form((a.get("method") or "get").lower(), a.get("action") or "", a.get("enctype") or "")
            self.forms.append(self._form)
        elif self._form is None or tag not in ("input", "button", "select", "option", "textarea"):
            return
        elif tag == "option" and self._select is not None:
            self._select.options.append((a.get("value") or "", "selected" in a))
        elif a.get("name"):
            kind = {"input": (a.get("type") or "text").lower(), "button": "submit"}.get(tag, tag)
            control = Field(a["name"], kind, a.get("value") or "", "checked" in a, "required" in a)
            self._form.fields.append(control)
            self._select = control if tag == "select" else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_of(page: str) -> list[Form]:
    """Every form of an HTML page."""
    parser = FormParser()
    parser.feed(page)
    parser.close()
    return parser.forms


def web_routes(app) -> list:
    """The app's page routes (not the API, its documents, the static files or anything else in the OpenAPI
    document), in the order the app matches them."""
    return [r for r in all_routes(app.router.routes) if getattr(r, "methods", None) and not r.path.startswith(EXCLUDED)
            and not r.include_in_schema]  # those in the OpenAPI document (/healthz, /metrics) schemathesis fuzzes


def route_of(routes: list, method: str, path: str):
    """The route that answers ``method`` on a concrete ``path`` (the first that matches, as the app picks)."""
    return next((r for r in routes if method.upper() in r.methods and r.path_regex.match(path)), None)


_READS = re.compile(r'(?:query_params|params|form)(?:\.get|\.getlist)?[\[(]\s*"(\w+)"')


def handler_reads(module) -> set[str]:
    """The form fields and query parameters a page module reads by name: literal .get("x") / ["x"] calls on its
    query parameters and forms, and its tuples of field names (FIELDS, FIELD_NAMES, ..._FILTERS)."""
    names = set(_READS.findall(inspect.getsource(module)))
    for attr, value in vars(module).items():
        if attr.endswith(("FIELDS", "FIELD_NAMES", "FILTERS")) and isinstance(value, tuple):
            names |= {v for v in value if isinstance(v, str)}
    return names


def judge(response) -> str:
    """'' when the answer is acceptable for any input, else what is wrong with it: a server error, a traceback,
    a redirect off the site, or a refusal (4xx) without a message (an HTML page's role="alert", a problem's
    detail)."""
    status, kind = response.status_code, response.headers.get("content-type", "")
    if status >= 500:
        return f"answered {status}"
    text = response.text if kind.startswith(("text/html", "application/problem+json", "application/json")) else ""
    if "Traceback" in text or 'File "' in text:
        return "a traceback in the answer"
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return "" if location.startswith("/") and not location.startswith("//") else f"redirect to {location!r}"
    if status >= 400:
        if kind.startswith("text/html") and 'role="alert"' in text:
            return ""
        if kind.startswith("application/problem+json") and response.json().get("detail"):
            return ""
        return f"{status} without a message ({kind})"
    return ""
