"""age-encrypted backups through the local and the S3-compatible store, and S3 server-side
encryption and object lock on the S3-compatible server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdrill import crypto
from pgdrill.pg.conn import DatabaseUrl
from pgdrill.store import open_store

from support.fingerprint import fingerprint, load_hard_content
from support.postgres import PgServer
from support.runner import pgdrill
from support.s3 import S3Server


@pytest.fixture(scope="module")
def hard_source(pg: PgServer) -> Iterator[DatabaseUrl]:
    url = pg.create_database()
    load_hard_content(url)
    yield url
    pg.drop_database(url.dbname)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """Two recipients (one given by flag, one in a recipients file) and an unrelated identity."""
    alice, alice_pub = crypto.generate_identity()
    bob, bob_pub = crypto.generate_identity()
    mallory, _ = crypto.generate_identity()
    files = {}
    for name, secret in (("alice", alice), ("bob", bob), ("mallory", mallory)):
        path = tmp_path / f"{name}.key"
        path.write_text(f"# created: for tests\n# public key: ...\n{secret.reveal()}\n")
        files[name] = str(path)
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"# the restore team\n{bob_pub}\n\n")
    return {**files, "alice_pub": alice_pub, "bob_pub": bob_pub, "alice_key": alice.reveal(),
            "recipients_file": str(recipients)}


def _backup(capsys: pytest.CaptureFixture[str], source: DatabaseUrl, store: str, keys: dict[str, str],
            *extra: str) -> dict[str, object]:
    r = pgdrill(capsys, "backup", "--database-url", source.conninfo(), "--store", store,
                "--encrypt-to", keys["alice_pub"], "--recipients-file", keys["recipients_file"], "--json", *extra)
    assert r.code == 0, r.err
    doc: dict[str, object] = r.json()
    return doc


def test_encrypted_round_trip_is_identical(capsys: pytest.CaptureFixture[str], hard_source: DatabaseUrl,
                                           target_db: DatabaseUrl, store_url: str, keys: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _backup(capsys, hard_source, store_url, keys)
    assert doc["encryption"] == {"method": "age", "recipients": [keys["alice_pub"], keys["bob_pub"]]}
    assert str(doc["object_key"]).endswith("archive.pgdump.age")

    stored = open_store(store_url).get_bytes(str(doc["object_key"]))
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert b"PGDMP" not in stored and b"Invoice" not in stored
    assert doc["size"] == len(stored) and doc["sha256"] == hashlib.sha256(stored).hexdigest()
    assert doc["archive_sha256"] != doc["sha256"]
    plain = crypto.decrypting_reader(_Bytes(stored), crypto.load_identities(keys["alice"])).read()
    assert plain.startswith(b"PGDMP")
    assert doc["archive_size"] == len(plain) and doc["archive_sha256"] == hashlib.sha256(plain).hexdigest()

    r = pgdrill(capsys, "verify", "latest", "--store", store_url, "--age-identity-file", keys["bob"], "--json")
    assert r.code == 0, r.err
    assert r.json()["toc_entries"] > 20

    # The identity as a secret env var (CI), not a file.
    monkeypatch.setenv("PGDRILL_AGE_IDENTITY", keys["alice_key"])
    r = pgdrill(capsys, "restore", "latest", "--store", store_url, "--target-url", target_db.conninfo(), "--json")
    assert r.code == 0, r.err
    assert r.json()["error_count"] == 0
    assert keys["alice_key"] not in r.text
    assert fingerprint(target_db) == fingerprint(hard_source)


@pytest.mark.parametrize("how", ["wrong", "missing", "unreadable", "malformed"])
def test_bad_identity_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str], hard_source: DatabaseUrl,
                                                target_db: DatabaseUrl, tmp_path: Path, keys: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    store = str(tmp_path / "store")
    _backup(capsys, hard_source, store, keys)
    monkeypatch.delenv("PGDRILL_AGE_IDENTITY", raising=False)
    monkeypatch.delenv("PGDRILL_AGE_IDENTITY_FILE", raising=False)
    if how == "wrong":
        args = ["--age-identity-file", keys["mallory"]]
    elif how == "missing":
        args = []
    elif how == "unreadable":
        args = ["--age-identity-file", str(tmp_path / "nope.key")]
    else:
        bad = "AGE-SECRET-KEY-1" + keys["alice_key"][16:-6] + "QQQQQQ"
        monkeypatch.setenv("PGDRILL_AGE_IDENTITY", bad)
        args = []
    for command in (["verify", "latest"], ["restore", "latest", "--target-url", target_db.conninfo()]):
        r = pgdrill(capsys, *command, "--store", store, *args)
        assert r.code == 2, r.text
        errors = [ln for ln in r.err.splitlines() if ln.startswith("pgdrill: error:")]
        assert len(errors) == 1 and errors[0] == r.err.strip().splitlines()[-1]
        assert "age" in errors[0] and "Traceback" not in r.text
        assert keys["alice_key"][20:40] not in r.text
    expected = {"wrong": "none of the given age identities can decrypt",
                "missing": "no identity was given",
                "unreadable": "cannot be read",
                "malformed": "age identity is not valid"}[how]
    assert expected in r.err
    assert fingerprint(target_db, with_schema=False)["tables"] == {}  # nothing was restored


def test_bad_recipient_fails_before_dumping(capsys: pytest.CaptureFixture[str], hard_source: DatabaseUrl,
                                            tmp_path: Path, keys: dict[str, str]) -> None:
    store = tmp_path / "store"
    for bad in ("age1notakey", keys["alice_key"]):
        r = pgdrill(capsys, "backup", "--database-url", hard_source.conninfo(), "--store", str(store),
                    "--encrypt-to", bad)
        assert r.code == 2, r.text
        assert keys["alice_key"] not in r.text
    assert not list(store.glob("backups/*")) if store.exists() else True


def test_s3_server_side_encryption_and_object_lock(capsys: pytest.CaptureFixture[str], hard_source: DatabaseUrl,
                                                   target_db: DatabaseUrl, s3_env: S3Server,
                                                   keys: dict[str, str]) -> None:
    bucket = s3_env.create_bucket(object_lock=True)
    store = f"s3://{bucket}/prod"
    doc = _backup(capsys, hard_source, store, keys, "--sse", "aws:kms", "--sse-kms-key-id", "alias/pgdrill-test",
                  "--object-lock-days", "7")
    client = s3_env.client()
    for key in (f"prod/{doc['object_key']}", f"prod/backups/{doc['id']}/manifest.json"):
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == "alias/pgdrill-test"
        assert head["ObjectLockMode"] == "COMPLIANCE"
        days = (head["ObjectLockRetainUntilDate"] - head["LastModified"]).total_seconds() / 86400
        assert 6.9 < days < 7.1
    r = pgdrill(capsys, "restore", "latest", "--store", store, "--target-url", target_db.conninfo(),
                "--age-identity-file", keys["alice"])
    assert r.code == 0, r.err
    assert fingerprint(target_db) == fingerprint(hard_source)

    aes_bucket = s3_env.create_bucket()
    r = pgdrill(capsys, "backup", "--database-url", hard_source.conninfo(), "--store", f"s3://{aes_bucket}",
                "--sse", "AES256", "--json")
    assert r.code == 0, r.err
    head = client.head_object(Bucket=aes_bucket, Key=r.json()["object_key"])
    assert head["ServerSideEncryption"] == "AES256"


def test_object_lock_on_a_bucket_without_it_is_refused_up_front(capsys: pytest.CaptureFixture[str],
                                                                 hard_source: DatabaseUrl, s3_env: S3Server) -> None:
    bucket = s3_env.create_bucket()
    r = pgdrill(capsys, "backup", "--database-url", hard_source.conninfo(), "--store", f"s3://{bucket}",
                "--object-lock-days", "7")
    assert r.code == 2, r.text
    assert "object lock" in r.err
    assert s3_env.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        out, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return out
