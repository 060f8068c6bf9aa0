"""The workflow pages: every state and transition of each bundled workflow is in the picture and in the
tables; the layout is deterministic, in rank order, and has no box drawn over another."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from api.web.drawing.statediagram import BOX_H, ranks, state_diagram
from engine.definitions.loader import load_path
from tests.web.support import sign_in

BUNDLED = load_path(Path(__file__).resolve().parents[2] / "workflows")


def _draw(wf, lang: str = "zh") -> str:
    return str(state_diagram(wf, title=wf.title.zh, state_title=lambda s: getattr(s.title, lang),
                             transition_title=lambda t: getattr(t.title, lang) if t.title else t.trigger))


def _boxes(svg: str) -> dict[str, tuple[float, float, float]]:
    found = re.findall(r'<g class="state" data-state="([^"]+)"><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"', svg)
    return {name: (float(x), float(y), float(w)) for name, x, y, w in found}


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_state_and_transition_is_drawn_once_with_its_title(name):
    wf = BUNDLED[name]
    svg = _draw(wf)
    assert svg == _draw(wf), "the same definition draws the same picture"
    boxes = _boxes(svg)
    assert sorted(boxes) == sorted(s.name for s in wf.states)
    for state in wf.states:
        assert f"{state.title.zh}</text>" in svg
    drawn = re.findall(r'<g class="edge" data-trigger="([^"]+)" data-from="([^"]+)" data-to="([^"]+)">'
                       r'<path[^>]*/><text[^>]*>([^<]+)</text>', svg)
    expected = [(t.trigger, source, t.dest, t.title.zh) for t in wf.transitions for source in t.source]
    assert [(trigger, s, d, html.unescape(label)) for trigger, s, d, label in drawn] == expected
    # Rows follow the rank from the initial state, and no two boxes overlap.
    rank = ranks(wf)
    assert rank[wf.initial] == 0 and all(rank[t.dest] <= rank[s] + 1 for t in wf.transitions for s in t.source)
    for a, (ax, ay, aw) in boxes.items():
        for b, (bx, by, bw) in boxes.items():
            if rank[a] == rank[b]:
                assert ay == by and (a == b or ax + aw <= bx or bx + bw <= ax), (a, b)
            if rank[a] < rank[b]:
                assert ay + BOX_H < by, (a, b)


def test_the_pages_list_the_workflows_and_show_each_ones_diagram_and_tables(client, world, rt):
    sign_in(client, rt, "asg_a")
    listing = client.get("/workflows").text
    for name in rt.registry.names():
        assert f'href="/workflows/{name}"' in listing
    for name in rt.registry.names():
        wf = rt.registry.current(name).definition
        page = client.get(f"/workflows/{name}").text
        svg = re.search(r'<svg class="diagram".*?</svg>', page, re.S).group(0)
        assert 'role="img"' in svg and 'width="100%"' in svg and 'viewBox="0 0 ' in svg
        assert f"<title>流程图: {wf.title.zh}</title>" in svg
        assert sorted(re.findall(r'<tr data-state="([^"]+)">', page)) == sorted(s.name for s in wf.states)
        assert re.findall(r'<tr data-trigger="([^"]+)">', page) == [t.trigger for t in wf.transitions]
        for t in wf.transitions:
            for guard in t.guards:
                assert f"<code>{guard}</code>" in page
    standard = client.get("/workflows/standard?lang=en").text
    row = re.search(r'<tr data-trigger="request_extension">(.*?)</tr>', standard, re.S).group(1)
    assert "Request extension" in row and "Assignee" in row and "New due date" in row and "before_deadline" in row
    states = re.search(r'<tr data-state="rectifying">(.*?)</tr>', standard, re.S).group(1)
    assert "3 working days before the deadline" in states and "Blue notice: 3 working days overdue" in states


def test_an_unknown_workflow_is_a_404_page_and_the_pages_ask_for_sign_in(client, world, rt):
    assert client.get("/workflows", follow_redirects=False).status_code == 303
    sign_in(client, rt, "reg")
    missing = client.get("/workflows/nonesuch")
    assert missing.status_code == 404 and "没有这个整改流程。" in missing.text
