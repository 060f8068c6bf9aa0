"""A workflow's state diagram as SVG, laid out in layers: deterministic, no external renderer.

States are boxes in rows by rank (the fewest transitions from the initial state; states the initial one
cannot reach go in a last row), in the file's order within a row. A transition to a later row is a straight
arrow labelled at its middle; one back to an earlier (or the same) row leaves its box upwards, runs up a lane
of its own on the right and enters its target from below, labelled along the lane; one to its own state is a
loop on the box's left. The same definition always gives the same picture.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from markupsafe import Markup, escape

from api.web.drawing.svgtext import frame, text_width
from engine.definitions.workflow import WorkflowDef

FONT = 13
SMALL = 10
BOX_H = 44
V_GAP = 84
LANE = 20
MARGIN = 16
MAX_STEP = 34  # how far above or below its box a back arrow's channel runs


@dataclass(frozen=True)
class Edge:
    """One arrow: a transition from one of its source states, with the label shown."""

    trigger: str
    source: str
    dest: str
    label: str


def ranks(wf: WorkflowDef) -> dict[str, int]:
    """Each state's row: breadth-first distance from the initial state; unreachable states after the rest."""
    rank = {wf.initial: 0}
    queue = deque([wf.initial])
    while queue:
        state = queue.popleft()
        for t in wf.transitions:
            if state in t.source and t.dest not in rank:
                rank[t.dest] = rank[state] + 1
                queue.append(t.dest)
    last = max(rank.values()) + 1
    return {s.name: rank.get(s.name, last) for s in wf.states}


def edges(wf: WorkflowDef, title_of) -> list[Edge]:
    """Every (transition, source state) pair, in the file's order, labelled by ``title_of(transition)``."""
    return [Edge(t.trigger, source, t.dest, title_of(t)) for t in wf.transitions for source in t.source]


class _Layout:
    """Box positions and the attachment points of arrows on their sides."""

    def __init__(self, wf: WorkflowDef, state_title, all_edges: list[Edge]) -> None:
        self.rank = ranks(wf)
        self.titles = {s.name: state_title(s) for s in wf.states}
        self.box_w = max(max(text_width(t, FONT) for t in self.titles.values()) + 24, 110)
        self.final = {s.name for s in wf.states if s.final}
        rows: dict[int, list[str]] = {}
        for s in wf.states:
            rows.setdefault(self.rank[s.name], []).append(s.name)
        loops = [e for e in all_edges if e.source == e.dest]
        self.left = MARGIN + max([text_width(e.label, SMALL) + 44 for e in loops] + [0])
        same_row = [e for e in all_edges if e.source != e.dest and self.rank[e.source] == self.rank[e.dest]]
        self.h_gap = max([40] + [text_width(e.label, SMALL) + 24 for e in same_row])
        # A label along a back lane must fit between the rows it joins (less the lanes' channels).
        back = [e for e in all_edges if self.rank[e.dest] < self.rank[e.source]]
        self.v_gap = max([V_GAP] + [text_width(e.label, SMALL) / (self.rank[e.source] - self.rank[e.dest])
                                    + 2 * MAX_STEP + 12 for e in back])
        widest = max(len(names) for names in rows.values())
        self.main_w = widest * self.box_w + (widest - 1) * self.h_gap
        self.pos: dict[str, tuple[float, float]] = {}
        for r, names in rows.items():
            row_w = len(names) * self.box_w + (len(names) - 1) * self.h_gap
            x0 = self.left + (self.main_w - row_w) / 2
            for i, name in enumerate(names):
                self.pos[name] = (x0 + i * (self.box_w + self.h_gap), 30 + r * (BOX_H + self.v_gap))
        self.height = 30 + (max(rows) + 1) * (BOX_H + self.v_gap) - self.v_gap + MARGIN + 10
        self._slots: dict[tuple[str, str], list[tuple[float, int]]] = {}

    def kind(self, e: Edge) -> str:
        """loop, down (to a later row), across (the same row) or back (to an earlier row)."""
        if e.source == e.dest:
            return "loop"
        diff = self.rank[e.dest] - self.rank[e.source]
        return "down" if diff > 0 else "across" if diff == 0 else "back"

    def reserve(self, state: str, side: str, order: float, index: int) -> None:
        """Ask for a point on a box side (top or bottom); points are spread in ``order``."""
        self._slots.setdefault((state, side), []).append((order, index))

    def point(self, state: str, side: str, index: int) -> tuple[float, float]:
        """The point given to arrow ``index`` on ``side`` of ``state``."""
        slots = sorted(self._slots[(state, side)])
        at = [i for _o, i in slots].index(index)
        x, y = self.pos[state]
        return x + self.box_w * (at + 1) / (len(slots) + 1), y if side == "top" else y + BOX_H


def state_diagram(wf: WorkflowDef, *, state_title, transition_title, title: str) -> Markup:
    """The picture of ``wf``; ``state_title(state)`` and ``transition_title(transition)`` give the words shown."""
    all_edges = edges(wf, transition_title)
    lay = _Layout(wf, state_title, all_edges)
    # Shorter spans run nearer the boxes, so lanes nest rather than cross.
    lanes = sorted((i for i, e in enumerate(all_edges) if lay.kind(e) == "back"),
                   key=lambda i: (lay.rank[all_edges[i].source] - lay.rank[all_edges[i].dest], i))
    lane_x = {i: lay.left + lay.main_w + 24 + k * LANE for k, i in enumerate(lanes)}
    for i, e in enumerate(all_edges):
        kind = lay.kind(e)
        if kind == "down":
            lay.reserve(e.source, "bottom", lay.pos[e.dest][0], i)
            lay.reserve(e.dest, "top", lay.pos[e.source][0], i)
        elif kind == "back":
            lay.reserve(e.source, "top", 1e6 + lane_x[i], i)
            lay.reserve(e.dest, "bottom", 1e6 + lane_x[i], i)
    width = (max(lane_x.values()) if lane_x else lay.left + lay.main_w) + LANE + MARGIN
    body = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>']
    x0, y0 = lay.pos[wf.initial]
    body.append(f'<circle cx="{x0 + lay.box_w / 2:.1f}" cy="8" r="5" fill="#333"/>'
                f'<path d="M{x0 + lay.box_w / 2:.1f},13 V{y0 - 2}" stroke="#333" marker-end="url(#arrow)"/>')
    loops_at: dict[str, int] = {}
    for i, e in enumerate(all_edges):
        body.append(_edge(lay, e, i, lane_x, loops_at))
    for s in wf.states:
        body.append(_box(lay, s.name))
    return frame(width, lay.height, title, body, css_class="diagram")


def _label(x: float, y: float, text: str, *, anchor: str = "middle", rotate: bool = False) -> str:
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    # A white outline under the letters keeps a label readable where it crosses a line.
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{SMALL}" text-anchor="{anchor}"{turn} fill="#111" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{escape(text)}</text>')


def _edge(lay: _Layout, e: Edge, i: int, lane_x: dict[int, float], loops_at: dict[str, int]) -> str:
    kind = lay.kind(e)
    x, y = lay.pos[e.source]
    if kind == "loop":
        n = loops_at[e.source] = loops_at.get(e.source, 0) + 1
        bulge = 18 + 14 * n
        d = f"M{x:.1f},{y + 10} C{x - bulge:.1f},{y + 2} {x - bulge:.1f},{y + BOX_H - 2} {x:.1f},{y + BOX_H - 10}"
        text = _label(x - bulge * 0.75 - 4, y + BOX_H / 2 + 4, e.label, anchor="end")
    elif kind == "across":
        tx, _ty = lay.pos[e.dest]
        right = tx > x
        sx, ex = (x + lay.box_w, tx) if right else (x, tx + lay.box_w)
        mid = y + BOX_H / 2
        d = f"M{sx:.1f},{mid} H{ex:.1f}"
        text = _label((sx + ex) / 2, mid - 5, e.label)
    elif kind == "down":
        sx, sy = lay.point(e.source, "bottom", i)
        ex, ey = lay.point(e.dest, "top", i)
        d = f"M{sx:.1f},{sy} L{ex:.1f},{ey}"
        text = _label((sx + ex) / 2, (sy + ey) / 2 + 4, e.label)
    else:
        sx, sy = lay.point(e.source, "top", i)
        ex, ey = lay.point(e.dest, "bottom", i)
        step = 10 + 6 * (list(lane_x).index(i) % 5)  # at most MAX_STEP
        lx = lane_x[i]
        d = f"M{sx:.1f},{sy} V{sy - step} H{lx:.1f} V{ey + step} H{ex:.1f} V{ey}"
        text = _label(lx - 4, (sy - step + ey + step) / 2, e.label, rotate=True)
    return (f'<g class="edge" data-trigger="{escape(e.trigger)}" data-from="{escape(e.source)}" '
            f'data-to="{escape(e.dest)}"><path d="{d}" fill="none" stroke="#333" marker-end="url(#arrow)"/>'
            f'{text}</g>')


def _box(lay: _Layout, name: str) -> str:
    x, y = lay.pos[name]
    border = ' stroke-width="3"' if name in lay.final else ""
    return (f'<g class="state" data-state="{escape(name)}"><rect x="{x:.1f}" y="{y}" width="{lay.box_w:.1f}" '
            f'height="{BOX_H}" rx="6" fill="#eef4fb" stroke="#1d4e89"{border}/>'
            f'<text x="{x + lay.box_w / 2:.1f}" y="{y + 19}" font-size="{FONT}" text-anchor="middle" fill="#111">'
            f'{escape(lay.titles[name])}</text><text x="{x + lay.box_w / 2:.1f}" y="{y + 35}" font-size="{SMALL}" '
            f'text-anchor="middle" fill="#444">{escape(name)}</text></g>')
