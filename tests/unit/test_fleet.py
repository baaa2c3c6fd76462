"""Fleets: pgdrill.yml's databases: as every command reads it (one precedence), the GitHub Actions
matrix, and the status table (Markdown, JSON, Prometheus) over stores with real backups and drills."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgdrill import config as config_mod
from pgdrill.config import Config
from pgdrill.errors import ConfigError
from pgdrill.fleet.members import matrix, members, require_members
from pgdrill.fleet.status import DatabaseStatus
from pgdrill.overview import read_view
from pgdrill.report import fleet as render
from pgdrill.settings import Settings
from pgdrill.store.local import LocalStore

from support.dashboard import POLICY, THRESHOLDS, write_shop
from support.runner import pgdrill

FLEET: dict[str, Any] = {
    "store_prefix": "s3://acme-backups/fleet",
    "rto_target": "30m",
    "environments": {
        "production": {"rto_target": "15m", "rpo_target": "26h", "checks": {"sequences": "warn"}},
        "staging": {"store_prefix": "s3://acme-staging/fleet"},
    },
    "databases": {
        "billing": {"database_url_env": "BILLING_DATABASE_URL", "environment": "production",
                    "rto_target": "10m", "postgres_version": 16, "checks": {"migration": {"table": "alembic_version"}}},
        "users": {"database_url_env": "USERS_DATABASE_URL", "environment": "production",
                  "store": "s3://acme-users/backups", "jobs": ["backup", "monitor"]},
        "search": {"database_url_env": "SEARCH_DATABASE_URL", "environment": "staging"},
        "legacy": {"database_url": "postgresql://app@legacy.internal/legacy"},
    },
}


def load(tmp_path: Path, doc: dict[str, Any]) -> Config:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return config_mod.load(str(path))


def settings(config: Config, env: dict[str, str] | None = None, **given: Any) -> Settings:
    values: dict[str, tuple[Any, Any]] = {k: (v, "flag") for k, v in given.items()}
    return Settings.from_values(values, config, env or {})


# -- one precedence ----------------------------------------------------------------------------------
def test_a_database_entry_sits_between_the_variables_and_its_environment(tmp_path: Path) -> None:
    cfg = load(tmp_path, FLEET)
    billing = settings(cfg, database="billing")
    assert billing.environment == "production"  # from the entry
    assert billing.get("rto_target") == "10m"  # the entry beats its environment (15m) and the top (30m)
    assert billing.where("rto_target").endswith("pgdrill.yml: databases.billing.rto_target")
    assert billing.get("rpo_target") == "26h"  # from its environment
    assert billing.where("rpo_target").endswith("environments.production.rpo_target")
    # a flag beats the entry, and an environment variable too
    assert settings(cfg, database="billing", rto_target="5m").get("rto_target") == "5m"
    by_env = Settings.from_values({"database": ("billing", "flag"), "rto_target": ("7m", "env")}, cfg, {})
    assert by_env.get("rto_target") == "7m" and by_env.where("rto_target") == "PGDRILL_RTO_TARGET"
    # --environment beats the entry's environment
    assert settings(cfg, database="billing", environment="staging").environment == "staging"
    # an entry without an environment: the top level
    legacy = settings(cfg, database="legacy")
    assert legacy.environment is None and legacy.get("rto_target") == "30m"
    # sections merge top < environment < database
    from pgdrill.checks import ChecksConfig

    checks = billing.section("checks", ChecksConfig)
    assert checks.sequences == "warn"
    assert checks.migration.table == "alembic_version"


def test_stores_come_from_the_entry_or_a_prefix_and_the_database_name(tmp_path: Path) -> None:
    cfg = load(tmp_path, FLEET)
    assert settings(cfg, database="billing").get("store") == "s3://acme-backups/fleet/billing"
    assert settings(cfg, database="billing").where("store").endswith("pgdrill.yml: store_prefix")
    assert settings(cfg, database="users").get("store") == "s3://acme-users/backups"
    # the environment's prefix is nearer than the top level's
    search = settings(cfg, database="search")
    assert search.get("store") == "s3://acme-staging/fleet/search"
    assert search.where("store").endswith("environments.staging.store_prefix")
    assert settings(cfg, database="billing", store="/tmp/elsewhere").get("store") == "/tmp/elsewhere"
    # without --database a prefix alone is no store
    with pytest.raises(ConfigError, match="missing --store"):
        settings(cfg).require("store")


def test_a_url_comes_from_the_variable_the_entry_names(tmp_path: Path) -> None:
    cfg = load(tmp_path, FLEET)
    secret = "postgresql://billing:s3cret@db.internal/billing"
    s = settings(cfg, {"BILLING_DATABASE_URL": secret}, database="billing")
    assert s.get("database_url") == secret
    assert s.where("database_url") == f"BILLING_DATABASE_URL (named by {cfg.path}: databases.billing.database_url_env)"
    unset = settings(cfg, {}, database="billing")
    assert unset.get("database_url") is None  # optional readers see nothing
    with pytest.raises(ConfigError) as exc:
        unset.require("database_url")
    assert "BILLING_DATABASE_URL is not set" in exc.value.message and "databases.billing.database_url_env" in \
        exc.value.message
    # a flag still wins
    assert settings(cfg, {}, database="billing", database_url="postgresql://x@y/z").get("database_url") == \
        "postgresql://x@y/z"
    assert settings(cfg, database="legacy").get("database_url") == "postgresql://app@legacy.internal/legacy"


def test_an_unknown_database_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    cfg = load(tmp_path, FLEET)
    with pytest.raises(ConfigError) as exc:
        settings(cfg, database="biling")
    assert "database 'biling' is not defined" in exc.value.message and "did you mean 'billing'" in str(exc.value.hint)
    with pytest.raises(ConfigError, match="has no databases: section"):
        settings(load(tmp_path, {"store": "/tmp/s"}), database="billing")


@pytest.mark.parametrize(("doc", "message"), [
    ({"store": "s3://b/shared", "databases": {"a": {}, "b": {}}},
     "databases.a and databases.b share the store s3://b/shared"),
    ({"databases": {"a": {"store": "/x/"}, "b": {"store": "/x"}}}, "share the store"),
    ({"databases": {"bad name": {}}}, "'bad name' is not a usable database name"),
    ({"databases": {"a": {"stor": "/x"}}}, "databases.a.stor: unknown key"),
    ({"databases": {"a": {"environment": "prod"}}}, "databases.a.environment: 'prod' is not defined"),
    ({"databases": {"a": {"database_url_env": "not a var"}}}, "is not an environment variable name"),
    ({"databases": {"a": {"checks": {"sequencs": True}}}}, "databases.a.checks.sequencs: unknown key"),
    ({"databases": {"a": {"rto_target": "soon"}}}, "databases.a.rto_target"),
    ({"databases": {"a": {"jobs": ["backup", "restore"]}}}, "databases.a.jobs.1"),
    ({"databases": {"a": {"postgres_version": "sixteen"}}}, "not a PostgreSQL major version"),
    ({"databases": ["a", "b"]}, "databases: must be a mapping"),
    ({"environments": {"p": {"databases": {"a": {}}}}}, "environments.p.databases: unknown key"),
])
def test_pgdrill_yml_problems_name_the_database_and_key(tmp_path: Path, doc: dict[str, Any], message: str) -> None:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump(doc))
    _, found = config_mod.read(str(path))
    assert any(message in p.message for p in found), [p.message for p in found]


def test_the_unknown_key_of_an_entry_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump({"databases": {"a": {"database_url_enc": "X"}}}))
    _, found = config_mod.read(str(path))
    assert found and "did you mean 'database_url_env'" in str(found[0].hint)


# -- the matrix ---------------------------------------------------------------------------------------
def test_the_matrix_lists_each_database_with_what_its_job_needs(tmp_path: Path) -> None:
    cfg = load(tmp_path, FLEET)
    doc = matrix(members(cfg, env={}))
    assert [e["database"] for e in doc["include"]] == ["billing", "users", "search", "legacy"]
    assert doc["include"][0] == {"database": "billing", "environment": "production",
                                 "store": "s3://acme-backups/fleet/billing", "database_url_env": "BILLING_DATABASE_URL",
                                 "postgres_version": "16"}
    assert doc["include"][3]["database_url_env"] == "" and doc["include"][3]["environment"] == ""
    # no URL, no secret in it
    assert "legacy.internal" not in json.dumps(doc)
    assert [m.name for m in members(cfg, environment="production", env={})] == ["billing", "users"]
    assert [m.name for m in members(cfg, job="drill", env={})] == ["billing", "search", "legacy"]
    assert [m.name for m in members(cfg, environment="production", job="drill", env={})] == ["billing"]


def test_an_empty_matrix_is_refused_with_what_to_fix(tmp_path: Path) -> None:
    cfg = load(tmp_path, FLEET)
    only_backups = load(tmp_path, {**FLEET, "databases": {"search": {"environment": "staging", "jobs": ["backup"]}}})
    with pytest.raises(ConfigError) as exc:
        require_members(only_backups, environment="staging", job="drill", env={})
    assert "no database of" in exc.value.message and "environment staging and the drill job" in exc.value.message
    with pytest.raises(ConfigError, match="not defined"):
        require_members(cfg, environment="prod", env={})
    with pytest.raises(ConfigError, match="has no databases: section"):
        require_members(load(tmp_path, {"store": "/x"}), env={})


def test_the_matrix_command_prints_and_writes_the_step_output(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump(FLEET))
    out = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    r = pgdrill(capsys, "matrix", "--config", str(path), "--job", "drill", "-e", "production")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [e["database"] for e in doc["include"]] == ["billing"]
    written = out.read_text()
    assert written.startswith("matrix={") and "databases=1\n" in written
    assert json.loads(written.splitlines()[0].removeprefix("matrix=")) == doc
    r = pgdrill(capsys, "matrix", "--config", str(path), "-e", "nope")
    assert r.code == 2 and "environment 'nope' is not defined" in r.err
    r = pgdrill(capsys, "matrix", "--config", str(path), "--database", "billing")
    assert r.code == 2 and "drop --database" in r.err


def test_every_command_takes_database(capsys: pytest.CaptureFixture[str]) -> None:
    from pgdrill.cli import cli

    missing = [name for name, cmd in cli.commands.items()
               if name not in ("demo", "matrix") and not any(p.name == "database" for p in cmd.params)]
    assert missing == []


def test_a_command_reads_the_database_entry(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stores = tmp_path / "stores"
    (stores / "billing").mkdir(parents=True)
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump({"store_prefix": str(stores), "databases": {"billing": {}, "users": {}}}))
    r = pgdrill(capsys, "list", "--config", str(path), "--database", "billing")
    assert r.code == 0 and "no backups in" in r.out + r.err and str(stores / "billing") in r.out + r.err
    # users' store does not exist yet: its own error, not another database's backups
    r = pgdrill(capsys, "list", "--config", str(path), "--database", "users")
    assert r.code == 2 and str(stores / "users") in r.err
    r = pgdrill(capsys, "list", "--config", str(path), "--database", "biling")
    assert r.code == 2 and "did you mean 'billing'" in r.err


# -- the status table ---------------------------------------------------------------------------------
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def fleet_stores(tmp_path: Path) -> dict[str, LocalStore]:
    stores = {"billing": LocalStore(tmp_path / "billing"), "users": LocalStore(tmp_path / "users")}
    write_shop(stores["billing"], now=NOW, days=20, database="billing")
    write_shop(stores["users"], now=NOW - timedelta(days=3), days=10, database="users")  # 3 days stale
    return stores


def test_status_rows_render_in_every_format(fleet_stores: dict[str, LocalStore]) -> None:
    rows = [DatabaseStatus(n, "production", s.url, read_view(s, POLICY, THRESHOLDS, NOW))
            for n, s in fleet_stores.items()]
    rows.append(DatabaseStatus("search", None, "s3://acme/search", None, "access denied to s3://acme/search"))
    assert [r.verdict for r in rows] == ["ok" if not rows[0].alerts else rows[0].verdict, "failed", "unreadable"]
    md = render.render_markdown(rows, NOW)
    assert md.startswith("## ❌ pgdrill: 3 databases")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 4  # header + one row per database
    assert "| billing | production |" in table[1] and "| users |" in table[2]
    assert "BackupTooOld" in table[2] and "store unreadable: access denied" in table[3]
    last = rows[0].last_drill
    assert last is not None and ("passed" if last.passed else "failed") in table[1]

    doc = render.render_json(rows, NOW)
    assert doc["counts"]["unreadable"] == 1 and doc["counts"]["failed"] == 1
    billing = doc["databases"][0]
    assert billing["last_backup"]["id"] == rows[0].last_backup.id if rows[0].last_backup else False
    assert billing["last_drill"]["rto"]["measured_seconds"] == last.rto.measured
    assert doc["databases"][2]["error"].startswith("access denied")

    prom = render.render_prometheus(rows)
    # one HELP/TYPE per family, every sample labelled with its database
    helps = re.findall(r"^# HELP (\S+)", prom, re.M)
    assert len(helps) == len(set(helps))
    assert 'pgdrill_up{database="search",store="s3://acme/search"} 0' in prom
    assert re.search(r'^pgdrill_backup_age_seconds\{database="users",store="[^"]+"\} \d', prom, re.M)
    assert re.search(r'^pgdrill_alert\{database="users",store="[^"]+",alert="BackupTooOld",severity="critical"\} 1$',
                     prom, re.M)
    samples = [line for line in prom.splitlines() if line and not line.startswith("#")]
    assert all('database="' in line for line in samples)


def test_report_fleet_reads_every_store_and_keeps_going_past_a_broken_one(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, fleet_stores: dict[str, LocalStore]) -> None:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump({"store_prefix": str(tmp_path), "databases": {
        "billing": {}, "users": {}, "search": {}}}, sort_keys=False))  # search's store does not exist
    r = pgdrill(capsys, "report", "--config", str(path), "--fleet")
    assert r.code == 0, r.err
    assert "search: store unreadable" in r.err
    assert "| billing |" in r.out and "| users |" in r.out and "| search |" in r.out
    r = pgdrill(capsys, "report", "--config", str(path), "--fleet", "--format", "json")
    doc = json.loads(r.out)
    assert [d["database"] for d in doc["databases"]] == ["billing", "users", "search"]
    assert [d["verdict"] for d in doc["databases"]][1:] == ["failed", "unreadable"]
    out = tmp_path / "fleet.prom"
    r = pgdrill(capsys, "report", "--config", str(path), "--fleet", "--format", "prometheus", "--output", str(out))
    assert r.code == 0 and r.out == "" and 'database="billing"' in out.read_text()
    site = tmp_path / "site"
    r = pgdrill(capsys, "report", "--config", str(path), "--fleet", "--html", str(site))
    assert r.code == 0, r.err
    index = (site / "index.html").read_text()
    assert 'href="billing.html"' in index and 'data-database="search"' in index and "unreadable" in index
    # one database: a store that cannot be read is still an error
    r = pgdrill(capsys, "report", "--config", str(path), "--database", "search")
    assert r.code == 2 and "does not exist" in r.err
    r = pgdrill(capsys, "report", "--config", str(path), "--fleet", "--store", str(tmp_path / "billing"))
    assert r.code == 2 and "drop --store" in r.err
    r = pgdrill(capsys, "report", "--config", str(path), "--fleet", "--period", "2026-11", "--format", "prometheus")
    assert r.code == 2 and "not a format of the evidence report" in r.err


def test_the_pgdrill_yml_of_docs_fleet_md_loads_and_reads_as_documented(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text()
    block = text.split("```yaml\n# pgdrill.yml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "pgdrill.yml"
    path.write_text(block)
    cfg, found = config_mod.read(str(path))
    assert found == []
    billing = settings(cfg, database="billing")
    assert billing.get("store") == "s3://acme-backups/fleet/billing" and billing.get("rto_target") == "10m"
    assert settings(cfg, database="search").get("store") == "s3://acme-staging-backups/fleet/search"
    assert [m.name for m in members(cfg, job="drill", env={})] == ["billing", "users"]


def test_check_says_which_variable_a_database_is_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLING_DATABASE_URL", raising=False)
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump({"store_prefix": str(tmp_path / "stores"),
                                    "databases": {"billing": {"database_url_env": "BILLING_DATABASE_URL"}}}))
    r = pgdrill(capsys, "check", "--config", str(path), "--database", "billing")
    assert r.code == 2
    line = next(x for x in r.out.splitlines() if x.startswith("FAIL  database"))
    assert "BILLING_DATABASE_URL is not set" in line and "databases.billing.database_url_env" in line
    assert str(tmp_path / "stores" / "billing") in r.out  # the store check looks at billing's own store


def test_monitor_of_one_database_labels_its_samples_like_the_fleet_summary(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, fleet_stores: dict[str, LocalStore]) -> None:
    path = tmp_path / "pgdrill.yml"
    path.write_text(yaml.safe_dump({"store_prefix": str(tmp_path), "databases": {"billing": {}}}))
    r = pgdrill(capsys, "monitor", "--config", str(path), "--database", "billing", "--format", "prometheus")
    samples = [line for line in r.out.splitlines() if line and not line.startswith("#")]
    assert samples and all('{database="billing",store="' in line for line in samples), samples
