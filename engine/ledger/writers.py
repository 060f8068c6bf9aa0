"""Writing ledger rows as the files offices open: .xlsx (write-only, constant memory) and .csv with a BOM."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import BinaryIO, Iterable, Iterator

from engine.ledger.columns import COLUMNS, FORMULA_START, HEADERS, INDEX, LIGHT_FILLS
from engine.ledger.xlsx_out import write_sheet

SHEET_TITLE = "整改台账"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def write_xlsx(rows: Iterable[tuple], target: str | BinaryIO) -> int:
    """Write the ledger to ``target`` (a path or a binary file); return the number of rows written.

    Streamed row by row into the zip (engine.ledger.xlsx_out), so memory stays flat however long the ledger
    is; the header row is frozen and the light column coloured so that the file reads well when opened.
    """
    return write_sheet(target, title=SHEET_TITLE, headers=HEADERS, widths=[w for _n, w in COLUMNS], rows=rows,
                       fill_column=INDEX["红黄绿灯"], fills=LIGHT_FILLS)


def _csv_value(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith((*FORMULA_START, "'")):
        # A text that begins with an apostrophe gets one more too: the import takes one off (reading._unquoted).
        return "'" + value
    return "" if value is None else value


def csv_chunks(rows: Iterable[tuple], *, rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The ledger as UTF-8 CSV with a byte-order mark (so Excel reads the Chinese), a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(HEADERS)
    pending = 0
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")
