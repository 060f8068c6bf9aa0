"""Writing ledger rows as the files offices open: .xlsx (write-only, constant memory) and .csv with a BOM."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import BinaryIO, Iterable, Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from engine.ledger.columns import COLUMNS, HEADERS, INDEX, LIGHT_FILLS

SHEET_TITLE = "整改台账"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_LIGHT = INDEX["红黄绿灯"]
_DATES = (INDEX["整改时限"], INDEX["销号日期"])


def write_xlsx(rows: Iterable[tuple], target: str | BinaryIO) -> int:
    """Write the ledger to ``target`` (a path or a binary file); return the number of rows written.

    openpyxl's write-only mode keeps the rows in a temporary file, so memory stays flat however long the
    ledger is; the header row is frozen and the light column coloured so that the file reads well when opened.
    """
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_TITLE)
    sheet.freeze_panes = "A2"
    for number, (_name, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    bold = Font(bold=True)
    header = []
    for name in HEADERS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    fills = {text: PatternFill("solid", start_color=colour, end_color=colour) for text, colour in LIGHT_FILLS.items()}
    centred = Alignment(horizontal="center")
    count = 0
    for row in rows:
        cells = list(row)
        fill = fills.get(row[_LIGHT])
        if fill is not None:
            cell = WriteOnlyCell(sheet, value=row[_LIGHT])
            cell.fill, cell.alignment = fill, centred
            cells[_LIGHT] = cell
        for at in _DATES:
            if cells[at] is None:
                cells[at] = ""
        sheet.append(cells)
        count += 1
    book.save(target)
    return count


def _csv_value(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
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
