"""pgdrill: PostgreSQL backups that prove they restore, run from CI."""

__version__ = "0.1.0"
