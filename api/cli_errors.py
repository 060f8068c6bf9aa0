"""What the command line says about a failure outside any command's own checks: a setting, the database, a
file, an argument. One line that names the cause, instead of a traceback of the library that met it."""
from __future__ import annotations

import sqlite3
import zoneinfo

import psycopg
import sqlalchemy as sa
from pydantic import ValidationError

from engine.store import safe_url


def _settings(exc: ValidationError) -> str:
    # Settings read CLOSELOOP_<FIELD> (engine.config): name the variable, which is what the user set.
    problems = [f"CLOSELOOP_{str(error['loc'][0]).upper() if error['loc'] else '?'}: "
                f"{error['msg'].removeprefix('Value error, ')}" for error in exc.errors()]
    return "invalid setting " + "; ".join(problems)


def plain_error(exc: BaseException, database_url: str | None = None) -> str | None:
    """One line saying what went wrong and where, or None for a failure that is a defect (a traceback helps)."""
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return _settings(exc)
    if isinstance(exc, zoneinfo.ZoneInfoNotFoundError):
        return f"unknown time zone ({exc}): set CLOSELOOP_TIMEZONE to a name such as Asia/Shanghai"
    where = f" ({safe_url(database_url)})" if database_url else ""
    if isinstance(exc, sa.exc.ArgumentError):
        return f"CLOSELOOP_DATABASE_URL is not a database URL{where}: {exc}"
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.DatabaseError, sqlite3.DatabaseError, psycopg.OperationalError)):
        cause = getattr(exc, "orig", None) or exc
        return f"the database{where} cannot be used: {str(cause).strip().splitlines()[0]}"
    if isinstance(exc, UnicodeEncodeError) and "surrogate" in str(exc):
        return "an argument or file name is not UTF-8 text (is the terminal set to another encoding, such as GBK?)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return None
