"""Who the admin log names for what no API user did: the operator of a command, or the process itself.

An API user is named by their username (as in item history); ``cli:<os user>`` is a ``closeloop`` command an
operator ran; ``system:<os user>`` is what a process does by itself as it starts. Usernames hold no ``:``,
so the forms cannot be confused. Kept free of database imports: every command imports it at start.
"""
from __future__ import annotations

import getpass


def os_user() -> str:
    """The operating-system user running this process (``unknown`` when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown"


def cli_actor() -> str:
    """The actor of a ``closeloop`` command: ``cli:<os user>``."""
    return f"cli:{os_user()}"


def system_actor() -> str:
    """The actor of what a process does by itself at start: ``system:<os user>``."""
    return f"system:{os_user()}"
