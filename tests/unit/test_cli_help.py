"""Every command's --help shows usage examples; list and drills show their items in the same order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgdrill.cli import cli
from pgdrill.drill import record_key
from pgdrill.store import open_store
from unit.test_drill_report import record

from support.history import write_backup
from support.runner import pgdrill


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_help_has_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    r = pgdrill(capsys, command, "--help")
    assert r.code == 0
    text = r.out.split("Examples:", 1)
    assert len(text) == 2, f"pgdrill {command} --help has no Examples:"
    examples = [ln.strip() for ln in text[1].split("Options:")[0].replace("\\\n", " ").splitlines() if ln.strip()]
    assert examples and all(ln.startswith(("pgdrill ", "PGDRILL_")) for ln in examples), examples
    assert any(f"pgdrill {command}" in ln for ln in examples)


def test_list_and_drills_share_one_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    now = datetime.now(timezone.utc)
    backups = [write_backup(store, now - timedelta(days=d), n=d).id for d in (3, 2, 1)]
    for day in (1, 2, 3):  # unit/test_drill_report.py's records, written in the store
        r = record(day)
        store.put_bytes(record_key(r.id), r.to_json().encode())
    listed = pgdrill(capsys, "list", "--store", str(store.root)).out.splitlines()[1:]
    drilled = pgdrill(capsys, "drills", "--store", str(store.root)).out.splitlines()[1:]
    assert [ln.split()[0] for ln in listed] == backups  # oldest first
    started = [ln.split()[1] + ln.split()[2] for ln in drilled]
    assert started == sorted(started) and len(started) == 3  # oldest first too
    as_json = pgdrill(capsys, "drills", "--store", str(store.root), "--json").json()["drills"]
    assert [d["id"] for d in as_json] == [ln.split()[0] for ln in drilled]
