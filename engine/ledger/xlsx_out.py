"""A streaming .xlsx writer for one sheet of plain cells: XML written row by row straight into the zip.

openpyxl's write-only mode builds an object per cell and takes about a millisecond a row; a ledger of
100,000 rows must be written in seconds, so the sheet's XML is written here directly (inline strings,
numbers, dates as serial days with a date format, a frozen header row, column widths, filled cells).
"""
from __future__ import annotations

import datetime as dt
import zipfile
from typing import BinaryIO, Iterable, Sequence

from openpyxl.utils import get_column_letter

from engine.ledger.columns import NOT_IN_XML

_EPOCH = dt.date(1899, 12, 30)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# Cell style indexes in STYLES: 0 plain, 1 bold header, 2 date, then one per fill colour.
HEADER_STYLE, DATE_STYLE, FIRST_FILL_STYLE = 1, 2, 3


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return NOT_IN_XML.sub("", text) if NOT_IN_XML.search(text) else text


def _styles(fills: Sequence[str]) -> str:
    fill_xml = "".join(f'<fill><patternFill patternType="solid"><fgColor rgb="FF{c}"/><bgColor indexed="64"/>'
                       f'</patternFill></fill>' for c in fills)
    fill_xfs = "".join(f'<xf numFmtId="0" fontId="0" fillId="{2 + i}" borderId="0" xfId="0" applyFill="1" '
                       f'applyAlignment="1"><alignment horizontal="center"/></xf>' for i in range(len(fills)))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN}">'
            '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            f'<fills count="{2 + len(fills)}"><fill><patternFill patternType="none"/></fill>'
            f'<fill><patternFill patternType="gray125"/></fill>{fill_xml}</fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{3 + len(fills)}"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
            f'{fill_xfs}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def _package(sheet_title: str) -> dict[str, str]:
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return {
        "[Content_Types].xml": head + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'),
        "_rels/.rels": head + (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": head + (
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
            f'<sheet name="{_escape(sheet_title)}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": head + (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{RELS}/styles" Target="styles.xml"/></Relationships>'),
    }


def write_sheet(target: str | BinaryIO, *, title: str, headers: Sequence[str], widths: Sequence[float],
                rows: Iterable[Sequence[object]], fill_column: int | None = None,
                fills: dict[str, str] | None = None) -> int:
    """Write a one-sheet workbook: a bold, frozen header row, then ``rows`` (text, int, date or None each);
    a cell of ``fill_column`` whose text is a key of ``fills`` gets that hex colour. Returns the rows written."""
    fills = fills or {}
    fill_style = {text: FIRST_FILL_STYLE + i for i, text in enumerate(fills)}
    letters = [get_column_letter(i + 1) for i in range(len(headers))]
    count = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, text in _package(title).items():
            book.writestr(name, text)
        book.writestr("xl/styles.xml", _styles(list(fills.values())))
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as raw:
            cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>'
                           for i, w in enumerate(widths))
            header = "".join(f'<c r="{letter}1" t="inlineStr" s="{HEADER_STYLE}"><is><t>{_escape(h)}</t></is></c>'
                             for letter, h in zip(letters, headers))
            raw.write((f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">'
                       '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                       'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
                       f'<cols>{cols}</cols><sheetData><row r="1">{header}</row>').encode())
            parts: list[str] = []
            for number, row in enumerate(rows, start=2):
                cells = []
                for column, value in enumerate(row):
                    if value is None or value == "":
                        continue
                    ref = f"{letters[column]}{number}"
                    kind = type(value)
                    if kind is str:
                        style = fill_style.get(value) if column == fill_column else None
                        s = f' s="{style}"' if style else ""
                        cells.append(f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{_escape(value)}'
                                     f'</t></is></c>')
                    elif kind is int:
                        cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                    elif kind is dt.date:
                        cells.append(f'<c r="{ref}" s="{DATE_STYLE}"><v>{(value - _EPOCH).days}</v></c>')
                    else:
                        raise TypeError(f"cannot write a {kind.__name__} into a ledger cell")
                parts.append(f'<row r="{number}">{"".join(cells)}</row>')
                count += 1
                if len(parts) >= 500:
                    raw.write("".join(parts).encode())
                    parts.clear()
            raw.write(("".join(parts) + "</sheetData></worksheet>").encode())
    return count
