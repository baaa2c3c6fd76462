"""Domain exceptions. Jobs raise these; only cli.py turns them into exit codes."""

from __future__ import annotations


class PgdrillError(Exception):
    """Base class. ``hint`` tells the user what to do about it."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.strip().replace("\n", " ")
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class ConfigError(PgdrillError):
    """Bad flag, env var, config file or argument: the user has to fix the input."""

    exit_code = 2


class SourceError(PgdrillError):
    """The database could not be reached or dumped."""

    exit_code = 3


class DatabaseMissing(SourceError):
    """The database (or role) a URL names does not exist on a server that answered: a typo in the URL,
    or a database still to create — the user's to fix."""

    exit_code = 2


class TargetError(PgdrillError):
    """The restore target could not be reached or was refused."""

    exit_code = 3


class StoreError(PgdrillError):
    """The backup store could not be read or written."""

    exit_code = 3


class AccessDenied(StoreError):
    """The store refused these credentials for this operation (S3's 403)."""


class StoreMissing(StoreError):
    """The store does not exist (no such folder or bucket, a file, an empty prefix): only a backup
    creates a store, so anything else reading one that is not there is a typo to fix."""

    exit_code = 2


class CredentialsMissing(StoreError):
    """No credentials for the store were found at all: the user has to provide them."""

    exit_code = 2


class ToolMissing(PgdrillError):
    """A PostgreSQL client binary of the needed major is not available."""

    exit_code = 3


class IntegrityError(PgdrillError):
    """A stored backup does not match its manifest, or cannot be read as an archive."""

    exit_code = 1


class NotFound(PgdrillError):
    """No backup matches the requested id."""

    exit_code = 2


class CryptoError(PgdrillError):
    """Encryption keys are missing or wrong."""

    exit_code = 2


class CheckFailed(PgdrillError):
    """A check, drill or gate did not pass."""

    exit_code = 1


class Refused(PgdrillError):
    """pgdrill refused to do something that could lose data."""

    exit_code = 2


class Interrupted(PgdrillError):
    """SIGINT/SIGTERM arrived; cleanup ran."""

    exit_code = 3


class PreflightFailed(PgdrillError):
    """``pgdrill check`` found problems: 2 when any is the user's to fix, else 3."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def invalid_document(what: str, exc: Exception) -> IntegrityError:
    """The IntegrityError for a stored document (a manifest, a drill record) that its model refused:
    ``what`` and the first problem's path and message (pydantic's ValidationError)."""
    errors = getattr(exc, "errors", None)
    first = errors()[0] if callable(errors) and errors() else {}
    loc = ".".join(str(p) for p in first.get("loc", ())) or "document"
    return IntegrityError(f"{what} is invalid: {loc}: {first.get('msg', exc)}")
