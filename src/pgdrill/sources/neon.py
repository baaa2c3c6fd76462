"""The Neon source: a point-in-time branch of a Neon project (:class:`~pgdrill.sources.branch.BranchSource`
over :class:`~pgdrill.providers.neon.NeonProvider`), as ``--neon-project`` and friends describe it.
The API key comes from NEON_API_KEY only."""

from __future__ import annotations

from pgdrill.errors import ConfigError
from pgdrill.providers.neon import NeonClient, NeonProvider, NeonSettings
from pgdrill.settings import Settings, flag_name
from pgdrill.sources.branch import BranchSource
from pgdrill.sources.instants import parse_at


def from_settings(s: Settings, purpose: str) -> BranchSource:
    what = "a Neon drill (the branch is the scratch database)" if purpose == "drill" else "a Neon restore"
    refused = ("scratch_url", "target_url") if purpose == "drill" else ("keep_owners", "no_verify", "create_roles",
                                                                        "no_owner", "no_privileges")
    for name in refused:
        if s.given_now(name):
            raise ConfigError(f"{flag_name(name)} does not apply to {what}")
    neon = s.section("neon", NeonSettings)
    project = str(s.require("neon_project"))
    client = NeonClient(api_host=neon.api_host)  # NEON_API_HOST, when set, wins over pgdrill.yml
    provider = NeonProvider(client, project, branch=s.text("neon_branch"),
                            database=s.text("neon_database") or neon.database,
                            role=s.text("neon_role") or neon.role, failed_grace=neon.failed_grace)
    compare = None
    if purpose == "drill" and s.get("store"):
        from pgdrill.settings import jobs

        compare = jobs.store(s)  # records, and a manifest's row counts
    return BranchSource(provider, at=parse_at(s.text("at")), compare_store=compare,
                        compare_backup=str(s.get("backup_ref", "latest") or "latest"),
                        branch_ttl=neon.branch_ttl, ready_timeout=neon.ready_timeout,
                        production_databases=tuple(s.get("production_databases") or ()))
