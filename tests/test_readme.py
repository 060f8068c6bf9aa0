"""The README tells a new user what the code does: its settings, its refusals, its item fields."""
from __future__ import annotations

import re

from engine.config import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table():
    rows = set(re.findall(r"^\| `(CLOSELOOP_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert rows == {f"CLOSELOOP_{name.upper()}" for name in Settings.model_fields}


def test_scope_refusals_are_documented_as_404():
    # They are 404 by design (API.md): an item outside the caller's scope looks exactly like a missing one.
    assert "403 (role, scope" not in README
    assert "Scope refusals are 404, not 403" in README
    assert "exactly like a unit\nthat does not exist" in README


def test_item_fields_a_new_user_misreads_are_explained():
    assert "`due_date` (整改时限)" in README and "`deadline` is the clock of the step the item is in now" in README
    assert "`allowed_triggers` are the triggers the caller making the request may fire now" in README
