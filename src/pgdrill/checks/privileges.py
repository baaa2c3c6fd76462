"""The privileges check: every object of the restored copy has the owner and the ACL the source had
in the backup's snapshot (``GRANT SELECT … TO app_readonly``, column grants, default privileges,
grants on schemas, sequences, functions and large objects). A restore that dropped them "passes"
every other check while the application's role can no longer read its tables."""

from __future__ import annotations

from pgdrill.checks.base import Check, CheckContext
from pgdrill.checks.results import CheckResult
from pgdrill.pg import privileges
from pgdrill.pg.privileges import ObjectPrivileges


def _show(p: ObjectPrivileges | None) -> str:
    if p is None:
        return "absent"
    parts = ([f"owner {p.owner}"] if p.owner is not None else []) + [f"acl {p.acl or 'default'}"]
    return ", ".join(parts)


def _version_default(key: str, want: ObjectPrivileges, got: ObjectPrivileges) -> bool:
    """PostgreSQL 15 changed the public schema's defaults (owner pg_database_owner, no CREATE for
    PUBLIC); a copy on another major gets its server's defaults, which pg_dump does not carry."""
    return key == "schema public" and "pg_database_owner" in (want.owner, got.owner)


class PrivilegesCheck(Check):
    name = "privileges"

    def run(self, ctx: CheckContext) -> CheckResult:
        e = ctx.expected
        if e is None or e.privileges is None:
            return self.result("skip", "no owners and grants recorded (a backup taken before pgdrill kept them)")
        p = e.privileges
        restored = privileges.snapshot(ctx.conn())
        diffs: list[str] = []
        versions: list[str] = []
        for key in sorted(set(restored) | set(p.objects)):
            want = privileges.expand(p.owner, p.objects, key, privileges.has_own_owner(key))
            got = restored.get(key)
            if got is None:
                if key in p.objects:
                    diffs.append(f"{key}: {e.label} {_show(want)}, restored absent")
                continue
            if got != want:
                line = f"{key}: {e.label} {_show(want)}, restored {_show(got)}"
                (versions if _version_default(key, want, got) else diffs).append(line)
        if len(restored) != p.count and not diffs:
            diffs.append(f"{p.count} objects in the {e.label}, {len(restored)} restored")
        if diffs:
            return self.result("fail" if e.same_instant else "warn",
                               f"{len(diffs)} object(s) with other owners or grants: {'; '.join(diffs[:2])}",
                               diffs + versions)
        if versions:
            return self.result("warn", f"only the server's own defaults differ: {versions[0]}", versions)
        granted = sum(1 for v in p.objects.values() if len(v) > 1 and v[1] is not None)
        return self.result("pass", f"{p.count} objects with the owners and grants of the {e.label} "
                                   f"({granted} with grants, usual owner {p.owner or 'none'})")
