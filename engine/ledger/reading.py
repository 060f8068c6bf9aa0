"""Reading a ledger file (.xlsx or .csv) into its header and rows, wherever the header row stands."""
from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Iterator
from xml.etree.ElementTree import ParseError

from engine.errors import InvalidInput
from engine.ledger.columns import COMPUTED, FORMULA_START, HEADERS
from engine.ledger.xlsx_in import MonthCell, NotAWorkbook, SheetError, Uncomputed, read_rows

# The header is looked for among the first rows: title rows (often merged cells) may stand above it.
HEADER_SEARCH_ROWS = 20
REQUIRED = ("问题来源", "问题描述", "责任单位")
# The columns read as dates; in any other, a cell the spreadsheet shows as a date is read as the text it shows.
DATE_COLUMNS = frozenset({"整改时限", "销号日期"})
_KNOWN = frozenset(HEADERS)
_BY_FOLDED = {"".join(unicodedata.normalize("NFKC", name).split()): name for name in HEADERS}


@dataclass
class LedgerFile:
    """The rows of a ledger file below its header: (row number as the spreadsheet shows it, cells by header)."""

    rows: list[tuple[int, dict[str, object]]]
    header_row: int
    # By row number, a cell the import cannot take as it stands, as (column, why): a value under no header (it
    # would be lost), a spreadsheet error. The import refuses such a row before checking its cells.
    problems: dict[int, tuple[str, str]] = field(default_factory=dict)
    # The numbers of the rows the sheet hides (an AutoFilter's or by hand, title rows included): read like the
    # others, and said so when refused.
    hidden: set[int] = field(default_factory=set)


def _refuse(detail: str) -> InvalidInput:
    return InvalidInput(f"{detail}; nothing was imported", field="file")


def _xlsx_rows(data: bytes, max_unpacked: int, merges: dict, hidden: set) -> Iterator[tuple[int, list]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            yield from read_rows(book, max_unpacked=max_unpacked, merges=merges, hidden=hidden)
    except (NotAWorkbook, zipfile.BadZipFile, ParseError, KeyError, ValueError, IndexError, OverflowError) as exc:
        raise _refuse(f"the file is not a readable .xlsx workbook ({exc or type(exc).__name__})") from None


def _unquoted(cell: str) -> str:
    """A CSV cell without the apostrophe the export puts before text that would otherwise run as a formula, or
    before text that itself begins with an apostrophe (so that ``'=x`` comes back as it was, not as ``=x``)."""
    return cell[1:] if cell[:1] == "'" and cell[1:].startswith((*FORMULA_START, "'")) else cell


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # an OLE2 compound file
        raise _refuse("the file is an Excel 97-2003 (.xls) or WPS (.et) workbook, or a password-protected one: "
                      "save it as an Excel workbook (.xlsx) without a password")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise _refuse("the file is UTF-16 text (Excel's \"Unicode text\"): save it as CSV UTF-8, or as .xlsx")
    if b"\x00" in data[:4096]:
        raise _refuse("the file is neither an .xlsx workbook nor a CSV text file")
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK unless told UTF-8
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _refuse("the CSV file is neither UTF-8 nor GB18030 text")
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            yield number, [_unquoted(cell) for cell in cells]
    except csv.Error as exc:
        raise _refuse(f"the CSV file is malformed: {exc}") from None


def cell_value(value: object) -> object:
    """A cell as the import reads it: text stripped, whole numbers as text, dates kept, empty as None."""
    if value is None or isinstance(value, SheetError):
        return value
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Excel and LibreOffice show it, not Python's True
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    return str(value)


def _as_text(value: object) -> object:
    """A date cell in a text column as the text it shows: the day, and the time when it has one; a year and
    month (2026年6月) when its format shows no day."""
    if isinstance(value, MonthCell):
        return value.shown
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _header_name(text: str) -> str:
    """A header cell as the column it names: typed headers hold line breaks (整改\n时限), spaced-out letters
    (序  号) and full-width forms (专项／批次), none of which changes the column."""
    name = "".join(unicodedata.normalize("NFKC", text).split())
    return _BY_FOLDED.get(name, text)


def _header_of(cells: list[object]) -> dict[int, str] | None:
    names = {i: _header_name(v) for i, v in enumerate(cells) if isinstance(v, str) and v and not isinstance(v, SheetError)}
    return names if len(_KNOWN.intersection(names.values())) >= 3 else None


def _check_header(header: dict[int, str], row_number: int) -> None:
    seen: set[str] = set()
    for name in header.values():
        if name not in _KNOWN:
            raise _refuse(f"row {row_number}: unknown column {name!r} (the ledger's columns: {', '.join(HEADERS)})")
        if name in seen:
            raise _refuse(f"row {row_number}: the column {name!r} appears twice")
        seen.add(name)
    missing = [name for name in REQUIRED if name not in seen]
    if missing:
        raise _refuse(f"row {row_number}: the header lacks the column(s) {', '.join(missing)}")


def column_letters(index: int) -> str:
    """A zero-based column's letters as a spreadsheet shows them (0: A, 26: AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _row_problem(cells: list[object], header: dict[int, str]) -> tuple[str, str] | None:
    for index, value in enumerate(cells):
        if value is None:
            continue
        name = header.get(index)
        if name is None:
            return (f"column {column_letters(index)}", "holds a value but has no header, so it would be lost: give "
                    "the column one of the ledger's headers, or empty it")
        if isinstance(value, Uncomputed) and name not in COMPUTED:
            return name, ("holds a formula that was never calculated (a program wrote the file; no spreadsheet saved "
                          "it), so the file has no value to import: open and save it in Excel or WPS, or type the "
                          "value in")
        if isinstance(value, SheetError) and name not in COMPUTED:
            return name, f"holds the spreadsheet error {value}: correct the formula, or type the value in"
    return None


def _filled_down(number: int, cells: list[object], header: dict[int, str], merges: dict, filling: dict,
                 empty: bool) -> list[object]:
    """A data row's cells with the merges it lies in filled from their top cells: in the header's columns only
    (a merge elsewhere, or one that starts at the header, fills nothing), and only in a row with cells of its own
    (a merge running on past the last problem makes no rows)."""
    for column, (bottom, value) in list(filling.items()):
        if bottom < number:
            del filling[column]
        elif not empty and (column >= len(cells) or cells[column] is None):
            cells.extend([None] * (column + 1 - len(cells)))
            cells[column] = value
    for column, bottom in merges.get(number, ()):
        if column in header and column < len(cells) and cells[column] is not None:
            filling[column] = (bottom, cells[column])
    return cells


def _cell(cells: list[object], index: int, name: str) -> object:
    value = cells[index] if index < len(cells) else None
    return value if name in DATE_COLUMNS else _as_text(value)


def read_ledger(data: bytes, *, max_rows: int, max_unpacked: int) -> LedgerFile:
    """The header and rows of a ledger file; a file that is no ledger is refused (InvalidInput on ``file``).
    ``max_unpacked``: the most bytes a workbook's sheet may unpack to."""
    if not data.strip():
        raise _refuse("the file is empty")
    is_xlsx = data[:4] == b"PK\x03\x04" and zipfile.is_zipfile(io.BytesIO(data))
    merges: dict[int, list[tuple[int, int]]] = {}  # the sheet's merged ranges several rows tall (xlsx_in)
    filling: dict[int, tuple[int, object]] = {}  # column -> (bottom row, value) of the merges the rows are in
    hidden: set[int] = set()  # the sheet's hidden rows (xlsx_in)
    source = _xlsx_rows(data, max_unpacked, merges, hidden) if is_xlsx else _csv_rows(data)
    header: dict[int, str] | None = None
    header_row = 0
    separated = ""
    rows: list[tuple[int, dict[str, object]]] = []
    problems: dict[int, tuple[str, str]] = {}
    for number, raw in source:
        cells = [cell_value(v) for v in raw]
        if header is None:
            header = _header_of(cells)
            # A CSV saved with semicolons or tabs (another locale's Excel): the whole header lands in one cell.
            separated = separated or next((c for c in cells if isinstance(c, str) and
                                           sum(name in c for name in REQUIRED) >= 2 and (";" in c or "\t" in c)), "")
            if header is not None:
                header_row = number
                _check_header(header, number)
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        # Empty, or a template's row with only its 序号 filled in ahead (a computed column the import never reads).
        empty = all(v is None or header.get(i) in COMPUTED for i, v in enumerate(cells))
        cells = _filled_down(number, cells, header, merges, filling, empty)
        if empty:
            continue
        if len(rows) >= max_rows:
            raise _refuse(f"the ledger has more than {max_rows} rows, the most one import takes; split the file")
        rows.append((number, {name: _cell(cells, i, name) for i, name in header.items() if name not in COMPUTED}))
        problem = _row_problem(cells, header)
        if problem is not None:
            problems[number] = problem
    if header is None:
        if not is_xlsx and separated:
            raise _refuse(f"the header row is one cell holding {separated[:60]!r}: save the file as CSV with commas "
                          "between the columns (or as .xlsx)")
        where = "the first sheet (the import reads only that one; a hidden sheet is passed over)" if is_xlsx else \
            "the CSV file"
        raise _refuse(f"no header row found in the first {HEADER_SEARCH_ROWS} rows of {where}; the header names the "
                      f"ledger's columns: {', '.join(HEADERS)}")
    if not rows:
        raise _refuse("the ledger has a header but no rows")
    return LedgerFile(rows, header_row, problems, hidden)
