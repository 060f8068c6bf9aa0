"""Every page checked with axe-core (vendored under tests/web/vendor/axe-core, never served by the app) at
desktop and phone width: a violation of impact "serious" or "critical" fails, printed as rule, target, help.

PAGES is the one list of pages to check: a new page adds a line here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.browser import WIDTHS, sign_in
from tests.web.seed_tools import CAMPAIGN

pytestmark = pytest.mark.slow
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")

# name: the path, with {open}, {closed}, {late} standing for the numbers of tests/web/seed_tools.py's items.
PAGES = {
    "signin": "/signin",  # checked signed out
    "home": "/",
    "items": f"/items?campaign={CAMPAIGN}",
    "items-empty": "/items?q=没有这样的事项",
    "item-new": "/items/new",
    "item-open": "/items/{open}",
    "item-closed": "/items/{closed}",
    "item-reminders": "/items/{late}",
    "inbox": "/inbox",
    "ledger": "/ledger",
    "items-en": f"/items?campaign={CAMPAIGN}&lang=en",
    "dashboard": "/dashboard",
    "workflows": "/workflows",
    "workflow": "/workflows/standard",
    "closure-form": "/items/{closed}/form",
}


def axe_violations(page, impacts: tuple[str, ...] = FAILING) -> list[str]:
    """Run axe-core on the loaded page; each violation of the given impacts as 'rule [impact] target: help'."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in result["violations"]:
        if violation["impact"] in impacts:
            for node in violation["nodes"]:
                found.append(f"{violation['id']} [{violation['impact']}] {' '.join(map(str, node['target']))}: "
                             f"{violation['help']}")
    return found


@pytest.fixture(scope="module")
def pages(browser, web_server, tool_items):
    """Pages signed in as the supervisor (who sees every form) and one signed out, for the whole module."""
    # The pages' Content-Security-Policy forbids inline scripts, rightly; only these test pages set it aside
    # so that axe-core can be injected.
    signed_in = browser.new_context(base_url=web_server, locale="zh-CN", bypass_csp=True)
    page = signed_in.new_page()
    sign_in(page, web_server, "sup")
    signed_out = browser.new_context(base_url=web_server, locale="zh-CN", bypass_csp=True).new_page()
    yield page, signed_out
    signed_in.close()
    signed_out.context.close()


@pytest.mark.parametrize("name", PAGES)
def test_the_page_has_no_serious_accessibility_violation(pages, tool_items, name):
    signed_in, signed_out = pages
    page = signed_out if name == "signin" else signed_in
    found = []
    for label, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        response = page.goto(PAGES[name].format(**tool_items))
        assert response.status == 200, name
        found += [f"{label}: {v}" for v in axe_violations(page)]
    assert not found, f"axe-core on {name}:\n" + "\n".join(found)


def test_the_check_reports_rule_target_and_help(pages):
    """The check itself: a page with an unlabelled field and an image without alt text is caught."""
    page = pages[1].context.new_page()
    page.set_content('<html lang="en"><title>t</title><main><h1>t</h1><img src="/x.png"><input></main></html>')
    found = axe_violations(page)
    page.close()
    assert any(f.startswith("image-alt [critical] img: ") for f in found), found
    assert any(f.startswith("label [critical] input: Form elements must have labels") for f in found), found


@pytest.mark.report
def test_the_api_docs_page_is_checked_and_swagger_uis_own_issues_are_reported(pages, capsys):
    """/docs is Swagger UI's own page: its findings are printed (rule, impact, how many, the first target) for a
    person to read, and not failed on. Not in `make test` (rendering the whole API's page takes 10 s or more): `make axe-docs`."""
    page = pages[1]
    page.set_viewport_size(WIDTHS["desktop"])
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .information-container")
    by_rule: dict[str, list[str]] = {}
    for line in axe_violations(page, ("minor", "moderate", "serious", "critical")):
        rule, _, rest = line.partition(" ")
        by_rule.setdefault(f"{rule} {rest.split(']')[0]}]", []).append(rest.split("] ", 1)[1])
    with capsys.disabled():
        print(f"\naxe-core on /docs (Swagger UI; reported, not failed on): {len(by_rule)} rule(s)")
        for rule, nodes in sorted(by_rule.items()):
            print(f"  {rule} x{len(nodes)}, first: {nodes[0]}")
