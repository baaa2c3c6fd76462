"""Case 4: an age-encrypted backup read with the wrong identity, or with none.

verify, restore and drill fail with exit 2 naming the backup and what key to give; nothing is
written into the target; the right identity (given inline through PGDRILL_AGE_IDENTITY, as a CI
secret would be) then works — and neither identity ever shows up in any output or stored object."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from pyrage import x25519

from pgdrill.pg import stats

from .conftest import Case


def _encrypted_backup(case: Case) -> str:
    r = case.run("--quiet", "backup", "--database-url", case.source.url.conninfo(), "--store", case.store_url,
                 "--encrypt-to", case.secrets.age_recipient, "--json")
    assert r.code == 0, r.err
    assert r.json()["encryption"]["recipients"] == [case.secrets.age_recipient]
    return str(r.json()["id"])


@pytest.mark.parametrize("key", ["wrong identity", "no identity"])
def test_encrypted_backup_without_its_key(local_case: Case, key: str, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    case = local_case
    bid = _encrypted_backup(case)
    if key == "wrong identity":
        wrong = str(x25519.Identity.generate())
        case.scanner.secrets["wrong age identity"] = wrong
        monkeypatch.setenv("PGDRILL_AGE_IDENTITY", wrong)
        why = ("none of the given age identities can decrypt", "recipients listed in its manifest")
    else:
        monkeypatch.delenv("PGDRILL_AGE_IDENTITY", raising=False)
        why = ("age-encrypted and no identity was given", "identity")
    prefix = f"f_age_{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "cfg" / "pgdrill.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"drill:\n  scratch_prefix: {prefix}\n")

    r = case.run("verify", bid, "--store", case.store_url)
    case.assert_failed_cleanly(r, 2, bid, *why, new_ok=1, restore=False)

    target = case.pg.create_database()
    try:
        r = case.run("restore", bid, "--store", case.store_url, "--target-url", target.conninfo())
        case.assert_failed_cleanly(r, 2, bid, *why, new_ok=1, restore=False)
        with psycopg.connect(target.conninfo()) as conn:
            assert stats.user_table_count(conn) == 0
    finally:
        case.pg.drop_database(target.dbname)

    r = case.run("--config", str(cfg), "drill", "--store", case.store_url, "--scratch-url",
                 case.pg.admin_url.conninfo())
    case.assert_failed_cleanly(r, 2, bid, *why, new_ok=1, restore=False)
    assert not [d for d in case.pg.databases() if d.startswith(prefix)], "scratch database left behind"

    # the right key opens it: the failures above were about the key, not the backup
    monkeypatch.setenv("PGDRILL_AGE_IDENTITY", case.secrets.age_identity)
    r = case.run("--quiet", "verify", bid, "--store", case.store_url)
    assert r.code == 0, r.err
    case.assert_previous_intact(extra=1)
