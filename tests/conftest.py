"""Shared fixtures live in tests/support/; each module registers itself here."""

pytest_plugins = [
    "support.postgres",
    "support.s3",
    "support.versions",
    "support.github_server",
    "support.neon_server",
    "support.webhook_server",
    "support.pitr",
]
