"""A workflow as a Mermaid state diagram."""
from __future__ import annotations

from engine.definitions.workflow import WorkflowDef


def mermaid(wf: WorkflowDef, lang: str = "zh") -> str:
    """Mermaid ``stateDiagram-v2`` text: states with their titles, transitions labelled by trigger."""
    lines = ["stateDiagram-v2", f"    %% {wf.name} v{wf.version}: {wf.title.zh} / {wf.title.en}"]
    for state in wf.states:
        title = getattr(state.title, lang)
        lines.append(f'    state "{title} ({state.name})" as {state.name}')
    lines.append(f"    [*] --> {wf.initial}")
    for t in wf.transitions:
        label = t.trigger if t.title is None else f"{t.trigger} {getattr(t.title, lang)}"
        for source in t.source:
            lines.append(f"    {source} --> {t.dest} : {label}")
    for state in wf.states:
        if state.final:
            lines.append(f"    {state.name} --> [*]")
    return "\n".join(lines) + "\n"
