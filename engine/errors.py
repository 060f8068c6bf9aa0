"""Typed refusals. Each maps to one HTTP status in the API; none of them is a crash."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every expected refusal; ``detail`` is safe to show to the caller."""

    code = "domain-error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """The thing does not exist, or the caller may not see it (the two look the same)."""

    code = "not-found"


class Forbidden(DomainError):
    """The caller is known but lacks the role, the unit scope, or breaks separation of duties."""

    code = "forbidden"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)


class UnknownTrigger(DomainError):
    """The item's workflow has no such trigger at all (a typo, or a trigger of another workflow)."""

    code = "unknown-trigger"

    def __init__(self, detail: str, *, triggers: list[str]) -> None:
        super().__init__(detail, triggers=triggers)


class InvalidTransition(DomainError):
    """The trigger exists in the workflow but is not allowed from the current state."""

    code = "invalid-transition"

    def __init__(self, detail: str, *, state: str, allowed_triggers: list[str]) -> None:
        super().__init__(detail, state=state, allowed_triggers=allowed_triggers)


class VersionConflict(DomainError):
    """The caller's If-Match names a version that is no longer current."""

    code = "version-conflict"

    def __init__(self, detail: str, *, current_version: int) -> None:
        super().__init__(detail, current_version=current_version)


class GuardFailed(DomainError):
    """A required field, evidence or comment is missing, or a guard refused."""

    code = "guard-failed"

    def __init__(self, detail: str, *, guard: str) -> None:
        super().__init__(detail, guard=guard)


class InvalidInput(DomainError):
    """A value is well-formed JSON but makes no sense here (unknown unit, bad date...)."""

    code = "invalid-input"

    def __init__(self, detail: str, *, field: str, **extra: object) -> None:
        super().__init__(detail, field=field, **extra)


class EvidenceTooLarge(DomainError):
    """An uploaded evidence file passed the size limit; nothing was stored."""

    code = "evidence-too-large"


class LedgerTooLarge(DomainError):
    """A ledger file to import is larger than the configured limit."""

    code = "ledger-too-large"


class EvidenceTypeRefused(DomainError):
    """An uploaded evidence file's content is not of an accepted type; nothing was stored."""

    code = "evidence-type-refused"

    def __init__(self, detail: str, *, detected_type: str) -> None:
        super().__init__(detail, detected_type=detected_type)


class IntegrityViolation(DomainError):
    """Stored data disagrees with the history that vouches for it (an edit outside closeloop).

    Acting on such an item would build new history on a forged state, so the engine refuses until an
    administrator has looked (``closeloop audit verify`` names the problem).
    """

    code = "integrity-violation"


class Conflict(DomainError):
    """The request clashes with existing data (duplicate code, key in use...)."""

    code = "conflict"


class IdempotencyMismatch(DomainError):
    """An Idempotency-Key was reused with a different request."""

    code = "idempotency-key-reused"


class IdempotencyInFlight(DomainError):
    """A request with the same Idempotency-Key is still running."""

    code = "idempotency-key-in-flight"


class Busy(DomainError):
    """The database's write lock, a row lock or a connection could not be had in time; nothing was changed."""

    code = "database-busy"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        # Seconds a client should wait before retrying: sent as Retry-After, not in the body.
        self.retry_after = retry_after


class CalendarError(Exception):
    """The calendar file is invalid; the message names the file, the line, the key and the problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class WorkflowError(Exception):
    """A workflow file is invalid; the message names the file, the key and the problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
