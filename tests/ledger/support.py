"""Ledger test helpers: a second empty database of the same kind, files made and read cell by cell."""
from __future__ import annotations

import csv
import io
import uuid

from openpyxl import load_workbook

from engine.ledger import writers
from engine.ledger.columns import HEADERS

# The rest of a successful import's answer when no recognised row differs from its item.
NO_DIFFERENCES = {"differing": [], "differing_count": 0}


def other_database(request, db_url: str, tmp_path) -> str:
    """A second fresh, migrated database on the same store as ``db_url`` (dropped when the test ends)."""
    from tests.conftest import new_database

    kind = "sqlite" if db_url.startswith("sqlite") else "postgres"
    return new_database(request, kind, tmp_path, name=f"other-{uuid.uuid4().hex[:6]}")


def xlsx_cells(data: bytes) -> list[list]:
    """Every row of the first sheet, as values."""
    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        # A streamed sheet declares no dimension, so openpyxl ends each row at its last filled cell.
        return [list(row) + [None] * (len(HEADERS) - len(row))
                for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def csv_cells(data: bytes) -> list[list[str]]:
    """Every row of a CSV ledger (which must begin with a BOM)."""
    assert data.startswith("\ufeff".encode()), "the CSV starts with a byte-order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def ledger_file(rows: list[dict], *, kind: str = "xlsx", title_rows: int = 0) -> bytes:
    """A ledger file with these rows (cells by header; missing cells empty) and optional title rows above."""
    tuples = [tuple(row.get(name) for name in HEADERS) for row in rows]
    if kind == "csv":
        data = b"".join(writers.csv_chunks(tuples))
        return data
    out = io.BytesIO()
    if title_rows:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(["2026年巡察整改台账"])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
        for _ in range(title_rows - 1):
            sheet.append([])
        sheet.append(list(HEADERS))
        for row in tuples:
            sheet.append(list(row))
        book.save(out)
        return out.getvalue()
    writers.write_xlsx(tuples, out)
    return out.getvalue()


def upload(client, headers: dict, data: bytes, *, name: str = "台账.xlsx", params: dict | None = None):
    """POST a ledger file to the import route."""
    return client.post("/api/v1/items/import", files={"file": (name, data, "application/octet-stream")},
                       headers=headers, params=params or {})
