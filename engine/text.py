"""Reading text a client sent: what counts as blank (whitespace, and the characters that render as nothing at
all), and what counts as a whole number."""
from __future__ import annotations

import re

# A visible character is anything but whitespace, a control character (Cc) or a Unicode
# Default_Ignorable_Code_Point (zero-width space and joiners, BOM, soft hyphen, bidi marks, variation
# selectors, Hangul fillers, tags...): a title of U+200B alone shows as empty, so it must not count as one.
_VISIBLE = re.compile(
    "[^\\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)


def is_blank(text: str | None) -> bool:
    """Whether ``text`` is missing or shows nothing: only whitespace and invisible characters."""
    return text is None or _VISIBLE.search(text) is None


# C0 and C1 control characters (tab, newline and escape among them): a one-line name holding one prints as a
# broken line or, with ESC, as a terminal command.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (which no one-line name may)."""
    return _CONTROL.search(text) is not None


# ASCII digits only: str.isdigit() also passes '²' and '①', which int() refuses, and int() refuses more than
# 4,300 digits; either once made a page answer 500.
_PLAIN_INT = re.compile(r"[0-9]{1,18}")


def plain_int(text: str | None) -> int | None:
    """``text`` as a whole number when it is 1-18 ASCII digits (no sign, no spaces), else None."""
    return int(text) if isinstance(text, str) and _PLAIN_INT.fullmatch(text) else None
