"""A fuzzer for the pages' forms and query strings, which the API's schemathesis run does not reach (the pages
are not in the OpenAPI document). Both stores.

The routes come from the app itself and the fields from the forms its pages render to each role (parsed with
html.parser) plus the query parameters the handlers read by hand (form_fuzz.EXTRA, checked against their
source), so a new page or field is fuzzed without a change here. Every role sends each form as the page filled
it; then one role sends each field of each form, and each query parameter, replaced in turn by each hostile
value, left out, or sent twice; every path parameter is also sent bogus. Every answer must be below 500, log no
ERROR, and refuse in words (a 4xx page with its message); a refused post must change no table's row count.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.throttle import AuthThrottle
from engine.people import passwords
from engine.reminders.sweep import sweep
from tests.evidence_samples import PDF
from tests.helpers import drive, new_item, table_counts
from tests.ledger.support import ledger_file
from tests.web.form_fuzz import (
    BOGUS_PATH,
    EXTRA,
    HOSTILE,
    Form,
    forms_of,
    handler_reads,
    judge,
    labels_for,
    route_of,
    web_routes,
)
from tests.web.support import PASSWORD, csrf_of, sign_in

ROLES = ("sup", "reg", "asg_a", "ver", "aud", "adm")  # the first role that sees a form sends its hostile values
ANON = "anonymous"
# The pages are read on an item in each state of the standard workflow (the other workflows' forms have the
# same fields); the first is the one the item page's query parameters are sent to.
ITEMS = [("standard", s) for s in ("rectifying", "identified", "assigned", "extension_requested",
                                   "pending_verification", "verified", "closed")]
LEDGER_ROW = {"问题来源": "审计", "问题描述": "专项资金使用不规范", "责任单位": "DEPT-A"}
FILLER = "整改情况说明"
# A download's query is sent as a CSV: the cheaper file to write, read through the same filters.
GET_BASELINE = {"/ledger/download": {"format": ["csv"]}}


@dataclass
class Seen:
    """A form as a page showed it to one visitor, and the item (workflow, state) it acts on, if any."""

    route: object
    form: Form
    who: str
    target: tuple[str, str] | None
    number: str | None  # the target's number when the page was read (the item may since have been used up)


class Fuzzer:
    """Per-role clients on one app, the live item of each (workflow, state), and what was sent and found."""

    def __init__(self, client, world, rt, caplog, stack: ExitStack) -> None:
        self.api, self.world, self.rt, self.caplog = client, world, rt, caplog
        self.app = client.app
        self.routes = web_routes(self.app)
        self.clients = {who: stack.enter_context(TestClient(self.app, raise_server_exceptions=False))
                        for who in (*ROLES, ANON)}
        self.csrf: dict[str, str] = {}
        self.live: dict[tuple[str, str], dict] = {}
        self.sha = ""
        self.failures: list[str] = []
        self.statuses: Counter = Counter()
        self.hit: set[tuple[str, str]] = set()
        self.fuzzed: set[tuple[str, str]] = set()
        self.sent = self.used_up = 0
        self._counts: dict | None = None
        self.files = {"/items/{ref}/evidence": ("整改报告.pdf", PDF, "application/pdf"),
                      "/ledger/import": ("台账.csv", ledger_file([LEDGER_ROW], kind="csv"), "text/csv")}

    # -- the world the pages show ----------------------------------------------------------------------------
    def fresh(self, key: tuple[str, str]) -> None:
        """A new item driven to ``key``'s state through the API (one in rectifying holds an evidence file)."""
        item = new_item(self.api, self.world, workflow=key[0])
        self.live[key] = drive(self.api, self.world, self.rt, item, key[1])
        if key[1] == "rectifying":
            stored = self.api.post(f"/api/v1/items/{item['id']}/evidence", headers=self.world.h("asg_a"),
                                   files={"file": ("整改报告.pdf", PDF, "application/pdf")})
            assert stored.status_code == 201, stored.text
            self.sha = stored.json()["sha256"]
        self._counts = None

    def setup(self, clock) -> None:
        """Notices in the inboxes (an item swept past its deadline), an item in each state, everyone signed in."""
        due = (self.rt.today() + dt.timedelta(days=5)).isoformat()
        overdue = new_item(self.api, self.world, due_date=due)
        drive(self.api, self.world, self.rt, overdue, "rectifying")
        for days in (6, 4, 10):
            clock.advance(days=days)
            sweep(self.rt)
        for key in ITEMS:
            self.fresh(key)
        for who in (*ROLES, ANON):
            self.sign(who)

    def sign(self, who: str) -> None:
        """Sign ``who`` in again (anonymous: a fresh sign-in page, whose token the next post needs)."""
        client = self.clients[who]
        if who == ANON:
            client.cookies.clear()
            self.csrf[who] = csrf_of(client.get("/signin").text)
        else:
            self.csrf[who] = sign_in(client, self.rt, who)

    def counts(self) -> dict[str, int]:
        """Row counts (table_counts), kept from the last post until something else writes."""
        if self._counts is None:
            self._counts = table_counts(self.rt)
        return self._counts

    # -- sending and judging ---------------------------------------------------------------------------------
    def send(self, who: str, method: str, url: str, *, what: str = "", **kwargs):
        """Send one request as ``who`` and judge its answer; a post that is refused must change no row count."""
        client = self.clients[who]
        if method == "POST" and who == ANON:
            # Each failed sign-in counts towards the 429 (tests/web/test_signin.py) and renews the page's token.
            limit = self.rt.settings
            self.app.state.signin_throttle = AuthThrottle(self.rt.clock, limit=limit.signin_failure_limit,
                                                          window_seconds=limit.signin_failure_window_seconds)
            stale = self.csrf.get(ANON)
            self.sign(ANON)
            if "csrf" in kwargs.get("data", {}):
                kwargs["data"]["csrf"] = [self.csrf[ANON] if v == stale else v for v in kwargs["data"]["csrf"]]
        route = route_of(self.routes, method, urlsplit(url).path)
        if route is not None:
            self.hit.add((method, route.path))
        before = self.counts() if method == "POST" else None
        logged = len(self.caplog.records)
        response = client.request(method, url, follow_redirects=False, **kwargs)
        self.sent += 1
        self.statuses[response.status_code] += 1
        wrong = judge(response)
        errors = [r.getMessage()[:200] for r in self.caplog.records[logged:] if r.levelno >= logging.ERROR]
        if method == "POST":
            self._counts = None
            after = self.counts()
            if response.status_code >= 400 and after != before:
                wrong += f" refused, yet the rows changed: {before} -> {after}"
        if wrong or errors:
            self.failures.append(f"{who} {method} {url[:100]!r} [{what}]: {wrong} {errors[:1]}".strip())
        if who != ANON and response.headers.get("location", "").startswith("/signin"):
            self.sign(who)  # signed out (the sign-out form): sign in again for the next request
        return response, before

    # -- pages and their forms -------------------------------------------------------------------------------
    def real_values(self, name: str) -> list[str]:
        """The real values of a path parameter the pages are read with."""
        values = {"ref": [item["number"] for item in self.live.values()], "sha256": [self.sha],
                  "name": self.rt.registry.names()}
        assert name in values, f"no real value for the path parameter {{{name}}}: add one to real_values"
        return values[name]

    def urls(self, route) -> list[str]:
        """The route's path with every combination of real path values."""
        names = list(route.param_convertors)
        return [fill(route.path, dict(zip(names, combo)))
                for combo in itertools.product(*(self.real_values(n) for n in names))]

    def crawl(self) -> tuple[dict, dict]:
        """Read every page as every role (the real-value GETs); the forms they show, one per role each, and the
        role that first got each page."""
        found: dict[tuple, dict[str, Seen]] = {}
        reader: dict[str, str] = {}
        for who in (*ROLES, ANON):
            for route in (r for r in self.routes if "GET" in r.methods):
                for url in self.urls(route):
                    response, _ = self.send(who, "GET", url, what="as the page links it",
                                            params=GET_BASELINE.get(route.path))
                    if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
                        continue
                    reader.setdefault(route.path, who)
                    for form in forms_of(response.text):
                        self.keep(found, who, form)
        return found, reader

    def keep(self, found: dict, who: str, form: Form) -> None:
        """Note a form ``who`` was shown, under a key of its route, its fixed hidden values and its fields."""
        path = urlsplit(form.action).path
        route = route_of(self.routes, form.method, path)
        if route is None:
            self.failures.append(f"a page's form goes to {form.method.upper()} {path}, which no route answers")
            return
        # Forms of one route differ by their fixed hidden values (an item's triggers) and their fields.
        fixed = tuple((f.name, f.value) for f in form.fields
                      if f.kind == "hidden" and f.name not in ("csrf", "version"))
        key = (form.method.upper(), route.path, fixed, tuple(form.names()))
        target = next((k for k, item in self.live.items() if f"/{item['number']}/" in f"{path}/"), None)
        if route.path == "/items/batch":
            target = ("standard", "identified")  # the batch is sent with that item ticked (see baseline)
        found.setdefault(key, {}).setdefault(who, Seen(route, form, who, target,
                                                       self.live[target]["number"] if target else None))

    def action(self, seen: Seen) -> str:
        """The form's action, on the live item of its target's state."""
        if seen.target is None:
            return seen.form.action
        return seen.form.action.replace(f"/{seen.number}/", f"/{self.live[seen.target]['number']}/")

    def baseline(self, seen: Seen) -> tuple[dict[str, list[str]], dict]:
        """The form as a person fills it in: hidden values, checked boxes, the first radio, the chosen option,
        the first button; required text filled; dates a valid day after the item's deadline (a posted form)."""
        data: dict[str, list[str]] = {}
        files: dict = {}
        later = (self.rt.today() + dt.timedelta(days=60)).isoformat()
        for f in seen.form.fields:
            if f.kind == "file":
                files[f.name] = self.files.get(seen.route.path, ("evidence.txt", b"text", "text/plain"))
            elif f.kind == "submit":
                data.setdefault(f.name, [f.value])
            elif f.kind == "checkbox":
                data.setdefault(f.name, []).extend([f.value] if f.checked else [])
            elif f.kind == "radio":
                data[f.name] = [f.value] if f.name not in data or f.checked else data[f.name]
            elif f.kind == "select":
                data[f.name] = [f.default()]
            elif f.kind == "date" and seen.form.method == "post":
                data[f.name] = [later]
            else:
                data[f.name] = [f.value or (FILLER if f.required else "")]
        if "csrf" in data:
            data["csrf"] = [self.csrf[seen.who]]
        if seen.route.path == "/signin":
            data.update(username=[seen.who if seen.who != ANON else "sup"], password=[PASSWORD])
        if seen.target and "item" in data:
            live = self.live[seen.target]
            data["item"] = [f"{live['number']}@{live['version']}"]
        return {k: v for k, v in data.items() if v}, files

    def post(self, seen: Seen, who: str, what: str, data: dict, files: dict, url: str | None = None) -> None:
        """Post a form as ``who``; when it fired a transition on its target item, the target is used up."""
        response, before = self.send(who, "POST", url or self.action(seen), what=what, data=data, files=files or None)
        if seen.target and self.counts()["history"] != before["history"]:
            self.used_up += 1
            self.fresh(seen.target)

    def fuzz_form(self, seen: Seen) -> None:
        """Each field of the form (and each the handler reads that it lacks) replaced by each hostile value; on
        a route's later forms, only the fields a person fills in that were fuzzed before, with the short list."""
        later = {(seen.route.path, f.name) for f in seen.form.fields if f.kind not in ("hidden", "submit")}
        trigger = next((f.value for f in seen.form.fields if f.name == "trigger"), "")
        for name in dict.fromkeys([*seen.form.names(), *EXTRA.get(("POST", seen.route.path), ())]):
            first = (seen.route.path, name) not in self.fuzzed
            if not first and (seen.route.path, name) not in later:
                continue
            self.fuzzed.add((seen.route.path, name))
            name_of = f"{trigger} {name}".strip()
            data, files = self.baseline(seen)
            if name in files:
                for label, upload in file_variants(files[name], first):
                    data, files = self.baseline(seen)
                    changed = {**files, name: upload} if upload else {k: v for k, v in files.items() if k != name}
                    extra = {name: ["garbage"]} if label == "text instead of a file" else {}
                    self.post(seen, seen.who, f"{name_of}: {label}", {**data, **extra}, changed)
                continue
            kind = next((f.kind for f in seen.form.fields if f.name == name), None)
            for label, values in variants(data.get(name), labels_for(kind, first)):
                data, files = self.baseline(seen)  # the target may have been used up: its number changed
                data = {**data, name: values} if values is not None else {k: v for k, v in data.items() if k != name}
                self.post(seen, seen.who, f"{name_of}: {label}", data, files)

    def fuzz_query(self, route, names: dict[str, str | None], who: str) -> None:
        """Each query parameter the page reads (name: the kind of its control, None if no form shows it),
        replaced by each hostile value, on the page's first real URL."""
        url = self.urls(route)[0]
        base = GET_BASELINE.get(route.path, {})
        for name, kind in names.items():
            first = ("GET *", name) not in self.fuzzed  # the first page to read it gets every value
            self.fuzzed |= {(route.path, name), ("GET *", name)}
            for label, values in variants(base.get(name), labels_for(kind, first)):
                # httpx sends no query over 64 kB (nor does a browser; uvicorn refuses a much shorter one).
                values = [v[:60_000] for v in values] if values is not None else None
                params = {**base, name: values} if values is not None else {k: v for k, v in base.items() if k != name}
                self.send(who, "GET", url, what=f"{name}: {label}", params=params)

    def run(self) -> tuple[dict, int]:
        """Crawl, post each form as each role (and anonymously), fuzz every form, query and path; return the
        forms posted and the number of query parameters fuzzed."""
        found, reader = self.crawl()
        kinds = {(key[1], f.name): f.kind for key, by_role in found.items() if key[0] == "GET"
                 for f in next(iter(by_role.values())).form.fields}
        posts = {key: by_role for key, by_role in found.items() if key[0] == "POST"}
        for by_role in posts.values():  # the real-value post of each role the form was shown to
            for who, seen in by_role.items():
                self.post(seen, who, "as the page filled it", *self.baseline(seen))
            first = next(iter(by_role.values()))
            self.post(first, ANON, "without a session", *self.baseline(first))
        for by_role in posts.values():
            self.fuzz_form(next(iter(by_role.values())))
        queries = 0
        for route in (r for r in self.routes if "GET" in r.methods):
            names = {name: kind for (path, name), kind in kinds.items() if path == route.path}
            names |= {name: names.get(name) for name in (*EXTRA.get(("GET", route.path), ()), "lang")}
            queries += len(names)
            self.fuzz_query(route, names, reader.get(route.path, ROLES[0]))
            if route.param_convertors:
                self.fuzz_path(route, self.urls(route)[0], reader.get(route.path, ROLES[0]), None)
        by_route = {seen.route.path: seen for by_role in posts.values() for seen in by_role.values()}
        for seen in by_route.values():
            if seen.route.param_convertors:
                self.fuzz_path(seen.route, self.action(seen), seen.who, seen)
        return posts, queries

    def fuzz_path(self, route, url: str, who: str, seen: Seen | None) -> None:
        """Each path parameter of ``url`` (a real one) replaced by each bogus value; a form keeps its fields."""
        real = route.path_regex.match(urlsplit(url).path).groupdict()
        for name, (label, value) in itertools.product(real, BOGUS_PATH.items()):
            bogus = fill(route.path, {**real, name: value})
            if seen is None:
                self.send(who, "GET", bogus, what=f"{{{name}}}: {label}", params=GET_BASELINE.get(route.path))
            else:
                data, files = self.baseline(seen)
                self.post(seen, who, f"{{{name}}}: {label}", data, files, url=bogus)


def fill(template: str, values: dict[str, str]) -> str:
    """A route's path with its parameters replaced by ``values``, each percent-encoded."""
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: quote(values[m.group(1)], safe=""), template)


def variants(base: list[str] | None, labels: tuple[str, ...]) -> list[tuple[str, list[str] | None]]:
    """(label, values to send; None: leave the field out) for one field: each hostile value, none, and two."""
    kept = (base or ["1"])[:1]
    return ([(label, [HOSTILE[label]]) for label in labels]
            + [("missing", None), ("twice", [*kept, "garbage"]), ("twice, the other order", ["garbage", *kept])])


def file_variants(good: tuple, first: bool) -> list[tuple[str, tuple | None]]:
    """(label, file to send; None: none) for a file field: empty, not what its name says, hostile names."""
    name, content, kind = good
    out = [("missing", None), ("text instead of a file", None), ("empty", (name, b"", kind)),
           ("garbage bytes", (name, bytes(range(256)) * 8, kind))]
    if first:
        out += [(f"named {label}", (value + name[-4:], content, kind)) for label, value in HOSTILE.items()
                if label in ("empty", "5000 digits", "chinese and emoji", "path", "script", "NUL")]
        if name.endswith(".csv"):  # a ledger whose cells are the hostile values, one row each
            cells = [dict.fromkeys(LEDGER_ROW, value) for value in HOSTILE.values() if len(value) < 1000]
            out.append(("hostile cells", (name, ledger_file(cells, kind="csv"), kind)))
    return out


def assert_in_sync(fuzz: Fuzzer) -> None:
    """The names each page module reads by hand were all sent, and EXTRA names only names a handler reads."""
    modules = {sys.modules[r.endpoint.__module__] for r in fuzz.routes}
    for module in modules:
        sent = {name for path, name in fuzz.fuzzed for r in fuzz.routes
                if r.path == path and sys.modules[r.endpoint.__module__] is module}
        assert handler_reads(module) <= sent, (module.__name__, sorted(handler_reads(module) - sent))
    for (method, path), names in EXTRA.items():
        module = sys.modules[next(r for r in fuzz.routes if r.path == path and method in r.methods).endpoint.__module__]
        assert set(names) <= handler_reads(module), (path, sorted(set(names) - handler_reads(module)))


def test_every_pages_form_and_query_survives_hostile_values(client, world, rt, clock, caplog, tmp_path, capsys,
                                                            monkeypatch):
    rt.settings.evidence_dir = tmp_path / "evidence"  # uploads stay in the test's folder on either store
    # Argon2 at its defaults costs a tenth of a second a check, and the sign-in form is posted a hundred times.
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("no user has this password"))
    caplog.set_level(logging.ERROR)
    started = time.perf_counter()
    with ExitStack() as stack:
        fuzz = Fuzzer(client, world, rt, caplog, stack)
        fuzz.setup(clock)
        posts, queries = fuzz.run()
    kind = "sqlite" if rt.settings.database_url.startswith("sqlite") else "postgresql"
    every = {(m, r.path) for r in fuzz.routes for m in r.methods if m != "HEAD"}
    fields = sum(len(key[3]) for key in posts)
    with capsys.disabled():
        print(f"\nform fuzz ({kind}): {len(every)} page routes, {len(posts)} forms ({fields} fields) and {queries} "
              f"query parameters; {fuzz.sent} requests as {len(ROLES)} roles and anonymous; {fuzz.used_up} items "
              f"used up; statuses {dict(sorted(fuzz.statuses.items()))}; {len(fuzz.failures)} failures; "
              f"{time.perf_counter() - started:.0f} s")
    assert not fuzz.failures, "\n".join(fuzz.failures[:40]) + f"\n... {len(fuzz.failures)} in all"
    assert every <= fuzz.hit, f"never requested (a post no page offers a form for?): {sorted(every - fuzz.hit)}"
    assert_in_sync(fuzz)
