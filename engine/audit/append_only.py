"""The tables closeloop only ever appends to: the database refuses UPDATE, DELETE and TRUNCATE on them.

This is the one list of them. Migrations protect each with triggers; a deployment that separates the
application's database role from the owner's grants the application no UPDATE, DELETE or TRUNCATE here.
"""
from __future__ import annotations

# history: every item's hash-chained records; admin_log: the administrators' own hash-chained log.
APPEND_ONLY_TABLES = ("history", "admin_log")
