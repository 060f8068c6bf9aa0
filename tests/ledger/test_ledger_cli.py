"""``closeloop export ledger`` and ``closeloop import``: the same ledger as the API, errors listed, exit codes."""
from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app
from engine.ledger.columns import HEADERS
from tests.helpers import new_item, table_counts
from tests.ledger.support import csv_cells, ledger_file, xlsx_cells

runner = CliRunner()


def cli(db_url: str, *args: str):
    """Run one command in-process against ``db_url``."""
    return runner.invoke(app, list(args), env={"CLOSELOOP_DATABASE_URL": db_url})


def _undated(rows: list[list]) -> list[list]:
    skip = {HEADERS.index("红黄绿灯"), HEADERS.index("逾期天数")}
    return [[v for i, v in enumerate(row) if i not in skip] for row in rows]


def test_export_writes_the_same_ledger_as_the_api(client, world, rt, db_url, tmp_path):
    for unit in ("DEPT-A", "DEPT-B", "SUB-A1"):
        new_item(client, world, unit=unit)
    target = tmp_path / "台账.xlsx"
    done = cli(db_url, "export", "ledger", str(target))
    assert done.exit_code == 0, done.output
    assert "3 rows written" in done.output
    # The command runs on the wall clock, the API on the test's: all but the day's light and overdue days agree.
    assert _undated(xlsx_cells(target.read_bytes())) == _undated(xlsx_cells(client.get(
        "/api/v1/ledger.xlsx", headers=world.h("aud")).content))
    as_csv = tmp_path / "b.csv"
    done = cli(db_url, "export", "ledger", str(as_csv), "--unit", "DEPT-A", "--as", "sup_a")
    assert done.exit_code == 0, done.output
    rows = csv_cells(as_csv.read_bytes())
    assert sorted(r[HEADERS.index("责任单位")] for r in rows[1:]) == ["DEPT-A", "SUB-A1"]
    refused = cli(db_url, "export", "ledger", str(tmp_path / "c.xlsx"), "--unit", "DEPT-B", "--as", "sup_a")
    assert refused.exit_code == 1 and "DEPT-B" in refused.output
    assert cli(db_url, "export", "ledger", str(tmp_path / "d.txt")).exit_code == 1


def test_import_lists_bad_rows_then_imports_and_dry_runs(client, world, rt, db_url, tmp_path):
    good = {"问题来源": "审计", "问题描述": "制度不健全", "责任单位": "DEPT-A", "外部编号": "SJ-1"}
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(ledger_file([good, {**good, "外部编号": "SJ-2", "责任单位": "NOWHERE"}]))
    before = table_counts(rt)
    refused = cli(db_url, "import", str(bad), "--as", "reg")
    assert refused.exit_code == 1
    assert "row 3, 责任单位: unit 'NOWHERE' does not exist" in refused.output
    assert "nothing was imported" in refused.output
    fine = tmp_path / "fine.csv"
    fine.write_bytes(ledger_file([good], kind="csv"))
    dry = cli(db_url, "import", str(fine), "--as", "reg", "--dry-run")
    assert dry.exit_code == 0 and "would create 1 item(s)" in dry.output, dry.output
    assert table_counts(rt) == before
    done = cli(db_url, "import", str(fine), "--as", "reg")
    assert done.exit_code == 0 and "created 1 item(s); 0 row(s)" in done.output, done.output
    assert "created 0 item(s); 1 row(s)" in cli(db_url, "import", str(fine), "--as", "reg").output
    assert cli(db_url, "import", str(fine), "--as", "asg_a").exit_code == 1
    assert cli(db_url, "import", str(fine), "--as", "nobody").exit_code == 1
