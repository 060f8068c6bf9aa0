"""E-mail addresses as reminders are sent to them: one plain address, checked before it is stored."""
from __future__ import annotations

import re

from engine.errors import InvalidInput

# ASCII addresses (RFC 5321 without SMTPUTF8, which not every office's server speaks); an internationalized
# domain is given in its xn-- form. Dots may not lead, trail or repeat in the local part.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_LENGTH = 254


def check_email(value: str, *, field: str = "email") -> str:
    """The address as stored (trimmed, domain in lower case), or InvalidInput saying what is wrong with it."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    if (not at or len(text) > MAX_LENGTH or len(local) > 64 or not _LOCAL.match(local) or len(labels) < 2
            or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit()):
        raise InvalidInput(f"{value!r} is not an e-mail address (name@example.gov.cn, at most {MAX_LENGTH} "
                           "characters, ASCII; an internationalized domain in its xn-- form)", field=field)
    return f"{local}@{domain.lower()}"
