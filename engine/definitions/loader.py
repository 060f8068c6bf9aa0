"""Read workflow files; every problem is reported as ``file:line: key: what is wrong``."""
from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import ValidationError

from engine.definitions.checks import static_problems
from engine.definitions.workflow import WorkflowDef
from engine.errors import WorkflowError
from engine.yamlkeys import repeated_keys

# libyaml's parser when PyYAML was built with it: the pure-Python one takes a tenth of a second per workflow
# file, paid on every start and so by every test that opens a runtime.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _node_at(node: yaml.Node | None, loc: tuple) -> yaml.Node | None:
    """Walk a composed YAML node along a pydantic error location, as far as it goes."""
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return node
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def key_path(loc: tuple) -> str:
    """Render an error location as ``transitions[3].roles``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _where(label: str, root: yaml.Node | None, loc: tuple) -> str:
    node = _node_at(root, loc)
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return f"{label}{line}: {key_path(loc)}"


def load_text(text: str, label: str = "<text>") -> WorkflowDef:
    """Parse, validate and statically check one workflow; raise WorkflowError listing every problem."""
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise WorkflowError([f"{label}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if not isinstance(data, dict):
        raise WorkflowError([f"{label}: a workflow file must be a mapping with name, version, states, transitions"])
    repeated = repeated_keys(yaml.compose(text, Loader=_LOADER))
    if repeated:
        raise WorkflowError([f"{label}:{node.start_mark.line + 1}: {where}: the key is given twice in one mapping "
                             "(YAML would keep only the last)" for node, where in repeated])
    try:
        definition = WorkflowDef.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text, Loader=_LOADER)  # composed only to give each problem its line
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            elif err["type"] == "literal_error":  # say which value is wrong, not only which are right
                message = f"unknown value {err['input']!r}: {message}"
            problems.append(f"{_where(label, root, loc)}: {message}")
        raise WorkflowError(problems) from None
    found = static_problems(definition)
    if found:
        root = yaml.compose(text, Loader=_LOADER)
        raise WorkflowError([f"{_where(label, root, loc)}: {msg}" for loc, msg in found])
    return definition


@functools.lru_cache(maxsize=64)
def _checked_text(text: str, label: str) -> WorkflowDef:
    # The same file read again (each runtime a process opens, each worker) is not parsed and checked again: a
    # definition is frozen, and a file changed since is other text, so parsed anew. A refused file is not kept.
    return load_text(text, label)


def workflow_files(path: Path) -> list[Path]:
    """The workflow files at ``path``: the file itself, or every *.yaml / *.yml in the folder."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    if path.exists():  # a device, a pipe, a socket: nothing a workflow file is
        raise WorkflowError([f"{path}: not a regular file or a folder"])
    raise WorkflowError([f"{path}: no such file or folder"])


def load_path(path: Path) -> dict[str, WorkflowDef]:
    """Load every workflow at ``path``; raise WorkflowError with all problems of all files at once."""
    found: dict[str, WorkflowDef] = {}
    origin: dict[str, Path] = {}
    problems: list[str] = []
    files = workflow_files(path)
    if not files:
        raise WorkflowError([f"{path}: no workflow files (*.yaml) found"])
    for file in files:
        try:
            definition = _checked_text(file.read_text(encoding="utf-8"), str(file))
        except UnicodeDecodeError as exc:
            problems.append(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        except OSError as exc:
            problems.append(f"{file}: cannot be read: {exc.strerror}")
            continue
        except WorkflowError as exc:
            problems.extend(exc.problems)
            continue
        if definition.name in found:
            problems.append(f"{file}: name: workflow {definition.name!r} is also defined in {origin[definition.name]}")
            continue
        found[definition.name] = definition
        origin[definition.name] = file
    if problems:
        raise WorkflowError(problems)
    return found
