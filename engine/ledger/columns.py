"""The ledger's columns as offices name them, and how one item becomes one ledger row."""
from __future__ import annotations

import datetime as dt
import re

from engine.deadlines import light

# (header, width in characters when opened in a spreadsheet)
COLUMNS = (("序号", 6), ("编号", 16), ("外部编号", 16), ("问题来源", 12), ("问题描述", 50), ("整改措施", 40),
           ("责任单位", 12), ("责任人", 10), ("整改时限", 12), ("当前状态", 10), ("红黄绿灯", 8), ("逾期天数", 8),
           ("最近进展", 40), ("销号日期", 12), ("专项/批次", 16))
HEADERS = tuple(name for name, _width in COLUMNS)
INDEX = {name: i for i, name in enumerate(HEADERS)}
# Filled by closeloop, never read back by the import: the row number and what the dates make of the deadline.
COMPUTED = frozenset({"序号", "红黄绿灯", "逾期天数"})
SOURCE_TITLES = {"inspection": "巡视巡察", "audit": "审计", "supervision": "督查督办", "complaint": "群众反映/信访",
                 "self_check": "自查自纠", "other": "其他"}
LIGHT_TITLES = {"red": "红", "yellow": "黄", "green": "绿", "none": ""}
# A CSV cell beginning with one of these is run as a formula when Excel or WPS opens the file (CSV injection):
# the export writes such a cell behind an apostrophe, which makes it text, and the import takes it off again. A
# cell that begins with an apostrophe gets one more as well, so that the one the import takes off is the export's.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot carry at all (a spreadsheet cell cannot hold them either): the .xlsx export drops them.
NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The hex colours of the light column's fill.
LIGHT_FILLS = {"红": "FFC7CE", "黄": "FFEB9C", "绿": "C6EFCE"}


def problem_text(title: str, description: str | None) -> str:
    """问题描述: the title, and the description below it when there is one (the import splits at the first line)."""
    return f"{title}\n{description}" if description else title


def progress_of(record: dict) -> str | None:
    """What a history record says of the work (最近进展): its comment; an import keeps the imported text."""
    if record["trigger"] == "import":
        return (record.get("fields") or {}).get("progress") or None
    return record.get("comment") or None


def ledger_row(serial: int, item: dict, *, state_title: str, progress: str | None, today: dt.date,
               yellow_days: int, closed_on: dt.date | None) -> tuple:
    """The 15 cells of one item (``item`` holds the item columns and ``unit_code``)."""
    colour, overdue_days = light(item["deadline"], today, yellow_days)
    return (serial, item["number"], item["external_ref"] or "", SOURCE_TITLES.get(item["source"], item["source"]),
            problem_text(item["title"], item["description"]), item["measures"] or "", item["unit_code"],
            item["assignee"] or "", item["due_date"], state_title, LIGHT_TITLES[colour], overdue_days,
            progress or "", closed_on, item["campaign"] or "")
