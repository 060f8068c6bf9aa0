"""Response shapes of the admin, workflow and operations routes, for the OpenAPI document."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.definitions.workflow import DueDatePolicy, Role, StateDef, Title, TransitionDef


class MeOut(BaseModel):
    """The caller's identity."""

    username: str
    roles: list[Role]
    unit: str


class UnitOut(BaseModel):
    """A unit as created."""

    code: str
    name: str
    parent: str | None


class UnitListed(UnitOut):
    """A unit in the tree listing, with its depth (0 for a root)."""

    depth: int


class UnitList(BaseModel):
    """Every unit in tree order."""

    data: list[UnitListed]


class UserListed(BaseModel):
    """A user (tokens are never listed)."""

    username: str
    display_name: str
    roles: list[Role]
    unit: str
    email: str | None
    active: bool


class UserList(BaseModel):
    """Every user."""

    data: list[UserListed]


class NewUserOut(BaseModel):
    """A created user and the first token, shown only here (null, with a note, on an idempotent replay)."""

    username: str
    display_name: str
    roles: list[Role]
    unit: str
    email: str | None
    token: str | None
    token_note: str | None = None


class TokenOut(BaseModel):
    """A new token, shown only here (null, with a note, on an idempotent replay)."""

    username: str
    token: str | None
    token_note: str | None = None


class UserOut(UserListed):
    """A user after a change, with the open items that still name them as assignee (责任人).

    A user who moved, lost the assignee role or was deactivated still holds those items until a supervisor
    transfers them (转办), within the unit to another assignee or to another unit.
    """

    assigned_open_items: int


class TokenListed(BaseModel):
    """One of a user's tokens: its label and dates, never the token or its hash."""

    id: int
    label: str
    created_at: str
    revoked_at: str | None
    revoked: bool


class TokenList(BaseModel):
    """A user's tokens, oldest first."""

    data: list[TokenListed]


class BadRecord(BaseModel):
    """The first broken record of the oldest broken item (``seq`` null: the item has no usable record)."""

    item: str
    item_id: str
    seq: int | None
    reason: str


class BadWorkflowVersion(BaseModel):
    """A stored workflow version whose content does not match its hash (items on it are refused)."""

    hash: str
    name: str
    reason: str


class BadAdminLogEntry(BaseModel):
    """The first broken admin-log entry (``seq`` null: the log as a whole, e.g. a checkpoint's claim)."""

    seq: int | None
    reason: str


class AdminLogCheck(BaseModel):
    """The admin log's chain, checked entry by entry and against every stored checkpoint's claim about it."""

    ok: bool
    entries: int = Field(description="Entries read")
    head: str | None = Field(description="The last entry's hash (64 zeros: empty); null when broken")
    first_bad: BadAdminLogEntry | None = None


class EvidenceCheck(BaseModel):
    """Stored evidence files read back and hashed: how many, and each one missing or changed."""

    checked: int
    problems: list[str]


class VerifyOut(BaseModel):
    """The check: ok with the intact record count and ledger head, or the first bad record and bad versions."""

    ok: bool
    records: int
    head: str | None = None
    first_bad: BadRecord | None = None
    workflow_problems: list[BadWorkflowVersion] = []
    admin_log: AdminLogCheck
    evidence: EvidenceCheck | None = None


class WorkflowSummary(BaseModel):
    """A workflow new items can start on."""

    name: str
    version: str
    hash: str
    title: Title
    initial: str
    default: bool


class WorkflowList(BaseModel):
    """The current workflows."""

    data: list[WorkflowSummary]


class WorkflowDetail(BaseModel):
    """One workflow's current definition (states, transitions), its versions and a Mermaid diagram."""

    name: str
    version: str
    hash: str
    title: Title
    description: str | None
    initial: str
    due_date: DueDatePolicy
    states: list[StateDef]
    transitions: list[TransitionDef]
    versions: list[str] = Field(description="Content hashes of every stored version of this workflow")
    mermaid: str


class HealthOut(BaseModel):
    """The process answers."""

    status: str


class ReadyOut(BaseModel):
    """The database answers and is at the code's schema; warnings (still ready) name what needs an operator."""

    model_config = ConfigDict(populate_by_name=True)
    status: str
    schema_revision: str | None = Field(default=None, alias="schema")
    workflows: list[str]
    # Years in which open deadlines fall and whose official holiday schedule is not known.
    calendar_unofficial_years: list[int] = []
    warnings: list[str] = []
