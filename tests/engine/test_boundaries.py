"""Architecture rules, checked on the source: engine/ never imports the web layer, and only migrations make schema.

Imports are read with ``ast`` (so a module name inside a string or comment does not count, and an import
hidden inside a function does). A migrated database is compared with the models to show the migrations
alone create every table and column the code uses.
"""
from __future__ import annotations

import ast
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel

import engine.models  # noqa: F401 - registers every table on SQLModel.metadata
from engine.config import PROJECT_ROOT
from engine.listing.textsearch import SEARCH_TABLES
from engine.store import Store
from engine.store.migrate import migrate

FORBIDDEN_IN_ENGINE = {"fastapi", "starlette", "api", "uvicorn"}
SCANNED_FOR_CREATE_ALL = ("engine", "api", "migrations", "bench", "tests")


def _python_files(*folders: str) -> list[Path]:
    files = [p for folder in folders for p in sorted((PROJECT_ROOT / folder).rglob("*.py"))]
    return [p for p in files if ".venv" not in p.parts and "__pycache__" not in p.parts]


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import inside engine/ stays inside engine/
                continue
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_engine_source_exists_where_expected():
    files = _python_files("engine")
    assert len(files) > 10 and PROJECT_ROOT.joinpath("engine", "service.py") in files


def test_nothing_under_engine_imports_fastapi_starlette_or_api():
    offenders = []
    for path in _python_files("engine"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            if module.split(".")[0] in FORBIDDEN_IN_ENGINE:
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: imports {module}")
    assert not offenders, "\n".join(offenders)


def test_the_import_scan_catches_what_it_should():
    source = "import fastapi\nfrom starlette.responses import Response\ndef f():\n    from api import cli\n" \
             "import importlib\nimportlib.import_module('api.app')\n"
    modules = {m.split(".")[0] for _line, m in _imported_modules(ast.parse(source))}
    assert {"fastapi", "starlette", "api"} <= modules
    assert not {m for _l, m in _imported_modules(ast.parse("x = 'import fastapi'  # from api import y\n"))}


def _create_all_calls(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "create_all"]


def test_no_code_calls_metadata_create_all():
    offenders = []
    for path in _python_files(*SCANNED_FOR_CREATE_ALL):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(PROJECT_ROOT)}:{line}" for line in _create_all_calls(tree)]
    assert not offenders, "schema must come from migrations only; create_all called at:\n" + "\n".join(offenders)
    assert _create_all_calls(ast.parse("SQLModel.metadata.create_all(engine)"))  # the scan does see a call


HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "api_route"}
# Where blocking work leaves the event loop: only api/dbcalls.py decides (on which threads, or inline).
THREAD_CHOICES = {"run_in_threadpool", "run_in_executor", "to_thread", "submit_write"}


def _sync_routes(tree: ast.AST) -> list[tuple[int, str]]:
    """Plain ``def`` functions decorated as routes (``@router.get(...)``): FastAPI runs those on its own threads."""
    return [(node.lineno, node.name) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            for decorator in node.decorator_list
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", None) in HTTP_METHODS]


def _thread_choices(tree: ast.AST) -> list[tuple[int, str]]:
    return [(node.lineno, node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in THREAD_CHOICES]


def test_every_route_is_async_and_leaves_the_loop_only_through_dbcalls():
    """One owner for where a route's work runs (api/dbcalls.py): a plain ``def`` route would run on a thread
    FastAPI chose, outside the store's discipline for which thread writes (inline on SQLite, write threads on
    PostgreSQL)."""
    offenders = []
    for path in _python_files("api"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(PROJECT_ROOT)
        offenders += [f"{where}:{line} route {name} is not async" for line, name in _sync_routes(tree)]
        if where != Path("api/dbcalls.py"):
            offenders += [f"{where}:{line} calls {name}" for line, name in _thread_choices(tree)]
    assert not offenders, "declare routes async and send blocking work through api.dbcalls:\n" + "\n".join(offenders)
    sample = ast.parse("@router.get('/x')\ndef x():\n    return run_in_threadpool(f)\n")
    assert _sync_routes(sample) and _thread_choices(sample)  # the scan does see both


def test_migrations_alone_create_every_table_and_column_of_the_models(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        migrate(store)
        inspector = sa.inspect(store.reader)
        tables = set(inspector.get_table_names()) - {"alembic_version"} - SEARCH_TABLES
        assert tables == set(SQLModel.metadata.tables)
        for name, table in SQLModel.metadata.tables.items():
            migrated = {c["name"] for c in inspector.get_columns(name)}
            assert migrated == {c.name for c in table.columns}, name
    finally:
        store.dispose()
