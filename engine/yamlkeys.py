"""Keys given twice in one YAML mapping. Loaders keep the last one silently, so a file that repeats a key says
two things and means the second (a transition's `roles` given twice grants what the first one denied).
Workflow and calendar files are refused instead, naming each repeated key and its line."""
from __future__ import annotations

import yaml


def repeated_keys(root: yaml.Node | None) -> list[tuple[yaml.Node, str]]:
    """(the repeated key's node, its dotted path) for every key given twice in one mapping, in file order."""
    found: list[tuple[yaml.Node, str]] = []
    seen_nodes: set[int] = set()  # an alias names a node already walked (and may name its own parent)
    stack: list[tuple[yaml.Node | None, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            names: set[str] = set()
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                where = f"{path}.{name}" if path else name
                if name in names:
                    found.append((key, where))
                names.add(name)
                stack.append((value, where))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node.value))
    return sorted(found, key=lambda pair: (pair[0].start_mark.line, pair[0].start_mark.column))
