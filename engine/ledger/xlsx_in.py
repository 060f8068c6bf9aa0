"""A streaming .xlsx reader for the first sheet's values: rows as lists, dates as dates, nothing else kept.

openpyxl's read-only mode builds an object per cell and takes about a millisecond a row; a 100,000-row
ledger must be read in seconds, so the sheet's XML is parsed here directly with the standard library's
incremental parser (shared strings, inline strings, numbers, booleans, and dates told by their style).
"""
from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from typing import Iterator, NamedTuple
from xml.etree.ElementTree import iterparse

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"  # Strict Open XML's namespace, which this reader does not read
REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# Day 0 of the two date systems: 1900 (Windows Excel, WPS) and 1904 (<workbookPr date1904="1"/>, old Excel for Mac).
_EPOCH = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
# Built-in number formats that show dates (ECMA-376 18.8.30; 27-36 and 50-58 are the East Asian ones a zh-CN
# Excel or WPS writes without defining them, such as 31, yyyy"年"m"月"d"日"), and the letters that make a
# custom one a date. Of those, the ones that show a year and month but no day (2026年6月, Jun-26).
_DATE_FORMATS = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, *range(27, 37), 45, 46, 47, *range(50, 59)})
_MONTH_FORMATS = frozenset({17, 27, 36, 50, 52, 57})
# Of those, the ones that show a time of day and no date (h:mm, h"时"mm"分", 上午/下午h"时"mm"分"...).
_TIME_FORMATS = frozenset({18, 19, 20, 21, 32, 33, 34, 35, 45, 46, 47, 55, 56})
_DATE_CODE = re.compile(r"[dmyhs]", re.IGNORECASE)
# At most 32 zeros and Excel's 255 characters a code: a format of a million zeros would make each cell a megabyte.
_PADDED = re.compile(r'(?:"([^"]{0,100})")?(0{2,32})(?:"([^"]{0,100})")?')
# The last column a spreadsheet has (XFD), and the serial number of its last day (9999-12-31).
MAX_COLUMNS = 16_384
_LAST_SERIAL = 2_958_465
# A spreadsheet's XML packs 5 to 30 fold; a part that unpacks a hundred times its packed size or more is a
# zip bomb (a few hundred KB that would unpack to gigabytes), refused before a byte of it is unpacked.
MAX_PACKING = 100


class NotAWorkbook(ValueError):
    """The zip is not a spreadsheet this reader understands."""


class SheetError(str):
    """A cell holding a spreadsheet error (#DIV/0!, #REF!, #N/A...): no value to import."""


class Uncomputed(SheetError):
    """A formula cell whose value is not in the file (a program wrote it, no spreadsheet ever calculated it):
    the sheet shows a value once opened, but the file holds none to import."""


class MonthCell(dt.date):
    """A date cell whose format shows only its year and month (2026年6月): it names no day."""

    shown: str  # the cell as the sheet shows it

    def __new__(cls, day: dt.date, chinese: bool) -> "MonthCell":
        made = super().__new__(cls, day.year, day.month, day.day)
        made.shown = f"{day.year}年{day.month}月" if chinese else f"{day.year}-{day.month:02d}"
        return made


_COLUMNS: dict[str, int] = {}
_MERGE = re.compile(r'<mergeCell ref="([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)"')


def _column(ref: str) -> int:
    """The zero-based column of a cell reference such as ``AB12``."""
    letters = ref.rstrip("0123456789")
    index = _COLUMNS.get(letters)
    if index is None:
        index = 0
        for ch in letters.upper()[:4]:
            index = index * 26 + (ord(ch) - 64)
        if not letters.isalpha() or not letters.isascii() or not 0 < index <= MAX_COLUMNS:
            raise NotAWorkbook(f"its cell {ref[:20]!r} lies outside the sheet's columns (A to XFD)")
        index = _COLUMNS[letters] = index - 1
    return index


_T = re.compile(r"<(?:\w+:)?t(?:\s[^>]*)?>(.*?)</(?:\w+:)?t>", re.S)
_PHONETIC = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _entity(match: re.Match) -> str:
    name = match.group(1)
    if name[0] == "#":
        code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
        if code > 0x10FFFF:
            raise NotAWorkbook(f"its text holds the character reference &{name[:12]}; beyond Unicode")
        return chr(code)
    return _NAMED[name]


def _unescape(text: str) -> str:
    return _ENTITY.sub(_entity, text) if "&" in text else text


def _string(inner: str) -> str:
    """The text of a shared or inline string: its runs joined, phonetic guides (rPh) left out."""
    if inner.count("<t") == 1 and "<rPh" not in inner:  # one run, the usual case: cut it out directly
        start = inner.find(">", inner.find("<t")) + 1
        if inner[start - 2] == "/":
            return ""
        return _unescape(inner[start:inner.index("</t>", start)])
    if "<rPh" in inner:
        inner = _PHONETIC.sub("", inner)
    return "".join(_unescape(t) for t in _T.findall(inner))


def _first_sheet(book: zipfile.ZipFile) -> tuple[str, dt.datetime]:
    """The first sheet the clerk sees (a hidden one, such as an instructions sheet, is passed over), and day 0
    of the workbook's date system."""
    epoch = _EPOCH
    try:
        with book.open("xl/workbook.xml") as handle:
            sheet = None
            for _event, element in iterparse(handle):
                if element.tag == f"{MAIN}workbookPr" and element.get("date1904", "").lower() in ("1", "true"):
                    epoch = _EPOCH_1904
                elif element.tag == f"{MAIN}sheet" and element.get("state", "visible") == "visible":
                    sheet = element
                    break
        with book.open("xl/_rels/workbook.xml.rels") as handle:
            targets = {e.get("Id"): e.get("Target") for _ev, e in iterparse(handle)
                       if e.tag == f"{PACKAGE_RELS}Relationship"}
    except KeyError:
        raise NotAWorkbook("it has no workbook part") from None
    if sheet is None or sheet.get(REL_ID) not in targets:
        if STRICT in open_text(book, "xl/workbook.xml"):
            raise NotAWorkbook("it is saved as Strict Open XML; save it as an ordinary Excel workbook (.xlsx)")
        raise NotAWorkbook("its workbook names no sheet")
    target = targets[sheet.get(REL_ID)]
    return (target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))), epoch


def open_text(book: zipfile.ZipFile, name: str, most: int = 1 << 16) -> str:
    """The first ``most`` bytes of a part, as text (for telling what kind of file it is)."""
    with book.open(name) as handle:
        return handle.read(most).decode("utf-8", "replace")


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in book.namelist():
        return []
    text = book.read("xl/sharedStrings.xml").decode("utf-8")
    return [_string(inner) for inner in re.findall(r"<(?:\w+:)?si>(.*?)</(?:\w+:)?si>|<(?:\w+:)?si/>", text, re.S)]


class Padded(NamedTuple):
    """A number format that pads whole numbers with zeros, maybe between quoted text: 0000, "XC-"000."""

    before: str
    width: int
    after: str


def _cell_styles(book: zipfile.ZipFile) -> dict[int, str | Padded]:
    """Style index -> how its numbers show, where that is not as a plain number: dates ("date", or "month" and
    "月" for a year and month only, the latter in Chinese), a time of day alone ("time"), or padded with zeros
    (Padded)."""
    if "xl/styles.xml" not in book.namelist():
        return {}
    custom: dict[int, str] = {}
    formats: list[int] = []
    with book.open("xl/styles.xml") as handle:
        in_cell_xfs = False
        for event, element in iterparse(handle, events=("start", "end")):
            if element.tag == f"{MAIN}cellXfs":
                in_cell_xfs = event == "start"
            elif event == "end" and element.tag == f"{MAIN}numFmt":
                custom[int(element.get("numFmtId", "0"))] = element.get("formatCode", "")
            elif event == "end" and element.tag == f"{MAIN}xf" and in_cell_xfs:
                formats.append(int(element.get("numFmtId", "0")))
    dated = {}
    for index, fmt in enumerate(formats):
        # The letters that show a part of a date or time: an elapsed time ([h]:mm) keeps its letter; quoted
        # text, an escaped letter (0.0\h) and the other bracketed parts ([$-804], [Red]) show none.
        code = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "",
                      re.sub(r"\[([hms]+)\]", r"\1", custom.get(fmt, ""), flags=re.IGNORECASE)).lower()
        if fmt in custom and _DATE_CODE.search(code):
            month_only = "y" in code and "d" not in code
            time_only = not {"y", "d"} & set(code) and bool({"h", "s"} & set(code))
            dated[index] = "time" if time_only else (("月" if "年" in custom[fmt] else "month") if month_only
                                                     else "date")
        elif fmt in _TIME_FORMATS:
            dated[index] = "time"
        elif fmt in _DATE_FORMATS:
            dated[index] = ("month" if fmt == 17 else "月") if fmt in _MONTH_FORMATS else "date"
        elif fmt in custom and (padded := _PADDED.fullmatch(custom[fmt])) is not None:
            dated[index] = Padded(padded[1] or "", len(padded[2]), padded[3] or "")
    return dated


def _number(text: str, epoch: dt.datetime | None) -> object:
    """A number cell's value: a date (from ``epoch``, day 0 of the workbook's dates) when its style shows one."""
    value = float(text)
    if epoch is not None and 0 <= value <= _LAST_SERIAL:  # else no day a spreadsheet can show: the number as it is
        try:
            when = epoch + dt.timedelta(days=value)
        except OverflowError:
            return value
        return when.date() if value.is_integer() else when
    return int(value) if value.is_integer() else value


def _time_of_day(value: float) -> object:
    """A number whose format shows only a time of day, as the sheet shows it (12:00, 9:30:15): no date, whatever
    whole days the number also holds."""
    if not 0 <= value <= _LAST_SERIAL:
        return int(value) if value.is_integer() else value
    seconds = round((value % 1) * 86_400) % 86_400
    hours, rest = divmod(seconds, 3_600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def check_packing(book: zipfile.ZipFile, names: list[str], most: int) -> None:
    """Refuse the workbook when the parts to be read would unpack to more than ``most`` bytes in all, or one
    of them to a zip bomb's share (the sizes the zip declares bound what reading them can unpack)."""
    total = 0
    for name in names:
        info = book.getinfo(name)
        if info.file_size > max(MAX_PACKING * info.compress_size, 1 << 20):
            raise NotAWorkbook(f"its part {name} would unpack to {info.file_size:,} bytes from "
                               f"{info.compress_size:,}, far more than a spreadsheet's")
        total += info.file_size
    if total > most:
        raise NotAWorkbook(f"its sheet would unpack to {total:,} bytes, more than the {most:,} an import reads; "
                           "split the file")


def _attribute(attributes: str, name: str) -> str | None:
    """The value of ``name="..."`` in a tag's attribute text (which starts with a space)."""
    at = attributes.find(f' {name}="')
    if at < 0:
        return None
    at += len(name) + 3
    return attributes[at:attributes.index('"', at)]


def _cell_value(kind: str, style: str | None, inner: str, shared: list[str], date_styles: dict[int, str | Padded],
                epoch: dt.datetime) -> object:
    if kind == "inlineStr":
        return _string(inner)
    start = inner.find("<v>")
    raw = "" if start < 0 else _unescape(inner[start + 3:inner.index("</v>", start)])
    if not raw:
        # No value: an empty cell, a formula whose text result is empty (t="str", as Excel and LibreOffice write
        # =IF(...,"",...)), or a formula never calculated (no type: as openpyxl writes them).
        return Uncomputed("an uncalculated formula") if "<f" in inner and kind == "n" else None
    if kind == "s":
        index = int(raw)
        if not 0 <= index < len(shared):
            raise NotAWorkbook(f"names shared text {index}, which the workbook does not hold")
        return shared[index]
    if kind == "b":
        return raw == "1"
    if kind == "e":
        return SheetError(raw)
    if kind == "d":  # an ISO 8601 date cell (t="d"), as LibreOffice and Strict workbooks may write
        try:
            when = dt.datetime.fromisoformat(raw)
        except ValueError:
            return raw
        return when.date() if when.time() == dt.time() else when
    if kind == "str":
        return raw
    shows = None if style is None else date_styles.get(int(style))
    if shows == "time":
        return _time_of_day(float(raw))
    value = _number(raw, epoch if shows is not None and not isinstance(shows, Padded) else None)
    if isinstance(shows, Padded) and isinstance(value, int) and value >= 0:
        return f"{shows.before}{value:0{shows.width}d}{shows.after}"  # what the sheet shows: 0012, not 12
    if shows in ("month", "月") and isinstance(value, dt.date):
        return MonthCell(value, chinese=shows == "月")
    return value


def _pieces(text: str, start: int, separator: str) -> Iterator[str]:
    """``text[start:].split(separator)``, one piece at a time: the sheet's text is the largest thing an import
    holds (about 2 bytes a character of Chinese), and the slice and the list of pieces were two more copies."""
    while (end := text.find(separator, start)) >= 0:
        yield text[start:end]
        start = end + len(separator)
    yield text[start:]


def _vertical_merges(text: str) -> dict[int, list[tuple[int, int]]]:
    """Top row -> (first column, bottom row) of each merged range several rows tall: offices merge 责任单位 or
    问题来源 down over the rows of one unit's problems, and only the top cell holds the value."""
    merges: dict[int, list[tuple[int, int]]] = {}
    at = text.rfind("<mergeCells")
    if at >= 0:
        for first, top, _last, bottom in _MERGE.findall(text, at):
            if int(bottom) > int(top):
                merges.setdefault(int(top), []).append((_column(first + top), int(bottom)))
    return merges


def read_rows(book: zipfile.ZipFile, *, max_unpacked: int, merges: dict | None = None, hidden: set | None = None
              ) -> Iterator[tuple[int, list[object]]]:
    """(row number, values) of the first sheet's rows that have any cell, in order; a workbook whose parts
    would unpack to more than ``max_unpacked`` bytes is refused unread. ``merges``, if given, is filled with the
    sheet's merged ranges several rows tall (top row -> (column, bottom row)) before the first row comes: the
    reader of the rows knows which columns a merge may fill. ``hidden``, if given, gets the number of each row
    the sheet hides (a filter's or by hand) as it comes.

    The sheet's XML (as spreadsheet programs write it: unprefixed ``row`` and ``c`` elements) is cut at its
    tags with string methods rather than parsed into elements: a cell costs a few microseconds, not tens."""
    present = set(book.namelist())
    try:
        sheet, epoch = _first_sheet(book)
        check_packing(book, [name for name in (sheet, "xl/sharedStrings.xml", "xl/styles.xml") if name in present],
                      max_unpacked)
    except KeyError:
        raise NotAWorkbook("its sheet part is missing") from None
    shared = _shared_strings(book)
    date_styles = _cell_styles(book)
    try:
        text = book.read(sheet).decode("utf-8")
    except KeyError:
        raise NotAWorkbook("its sheet part is missing") from None
    data_at = text.find("<sheetData")
    if data_at < 0:
        raise NotAWorkbook("its sheet has no sheetData")
    number = 0
    if merges is not None:
        merges.update(_vertical_merges(text))
    for chunk in _pieces(text, data_at, "</row>"):
        start = chunk.rfind("<row")
        if start < 0:
            continue
        head_end = chunk.index(">", start)
        row_attributes = " " + chunk[start + 4:head_end]
        row_ref = _attribute(row_attributes, "r")
        number = int(row_ref) if row_ref else number + 1
        if hidden is not None and _attribute(row_attributes, "hidden") in ("1", "true"):
            hidden.add(number)
        values: list[object] = []
        for piece in chunk[head_end + 1:].split("<c ")[1:]:
            end = piece.index(">")
            attributes = " " + piece[:end]
            inner = "" if attributes.endswith("/") else piece[end + 1:piece.rfind("</c>")]
            ref = _attribute(attributes, "r")
            column = _column(ref) if ref else len(values)
            try:
                value = _cell_value(_attribute(attributes, "t") or "n", _attribute(attributes, "s"), inner, shared,
                                    date_styles, epoch)
            except (ValueError, IndexError) as exc:
                # A hand-made or damaged cell: name it, not the parser's own words.
                why = exc if isinstance(exc, NotAWorkbook) else "holds a value no spreadsheet writes"
                raise NotAWorkbook(f"its cell {(ref or '?')[:20]} {why}") from None
            if column >= len(values):
                values.extend([None] * (column - len(values) + 1))
            values[column] = value
        yield number, values
