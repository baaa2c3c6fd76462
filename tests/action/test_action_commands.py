"""backup (root action with `command`), restore, monitor and prune through their actions."""

from __future__ import annotations

from pathlib import Path

import psycopg
from act_runner import Act, project_venv, url_text
from prometheus_client.parser import text_string_to_metric_families

from support.postgres import PgServer


def test_root_backup_then_restore_monitor_and_prune(act: Act, pg: PgServer, tmp_path: Path) -> None:
    source, target = pg.create_database(), pg.create_database()
    try:
        with psycopg.connect(source.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
            conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 75) g")
        store, metrics = tmp_path / "store", tmp_path / "metrics.prom"
        r = act.run("t-commands.yml",
                    inputs={"store": str(store), "venv": str(project_venv()), "metrics": str(metrics)},
                    secrets={"DATABASE_URL": url_text(source), "TARGET_URL": url_text(target)})
        assert r.code == 0, r.explain()

        first, second = r.outputs("first")["backup-id"], r.outputs("second")["backup-id"]
        assert first and second and first != second

        assert r.outputs("restore")["backup-id"] == first
        assert r.outputs("restore")["passed"] == "true"
        with psycopg.connect(target.conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (75,)

        monitor = r.outputs("monitor")
        assert monitor["passed"] == "true", r.summary("monitor")
        assert monitor["alerts"] == ""
        families = {f.name for f in text_string_to_metric_families(metrics.read_text())}
        assert "pgdrill_backup_age_seconds" in families

        prune = r.outputs("prune")
        # keep-last 1 keeps the second backup, keep-tags weekly=1 the first: nothing to remove
        assert prune["passed"] == "true"
        assert prune["kept"] == "2" and prune["would-remove"] == "0", prune
        assert "--keep-last 1 --keep-tag weekly=1 --dry-run" in r.log("prune", "run")
        assert sorted(p.name for p in (store / "backups").iterdir()) == sorted([first, second])
    finally:
        pg.drop_database(source.dbname)
        pg.drop_database(target.dbname)
