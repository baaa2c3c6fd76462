"""age streams: round trips, constant memory on large inputs, and errors that keep their meaning."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from pgdrill import crypto, secrets
from pgdrill.errors import ConfigError, CryptoError, IntegrityError, SourceError

MiB = 1 << 20
_BLOCK = os.urandom(MiB)


class Pattern:
    """A large, non-repeating-enough plaintext generated on the fly (nothing held in memory)."""

    def __init__(self, size: int, fail_at_eof: BaseException | None = None) -> None:
        self.left = size
        self.sha = hashlib.sha256()
        self.counter = 0
        self.fail_at_eof = fail_at_eof

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            if self.fail_at_eof:
                raise self.fail_at_eof
            return b""
        n = min(self.left, size if size and size > 0 else MiB)
        # A fixed random block, rotated a little each read: cheap, and no two chunks alike.
        shift = (self.counter * 7919) % len(_BLOCK)
        self.counter += 1
        data = (_BLOCK[shift:] + _BLOCK[:shift])[:n] if n <= len(_BLOCK) else bytes(n)
        self.left -= n
        self.sha.update(data)
        return data


def drain(reader: crypto.CryptoStream, chunk: int = MiB) -> tuple[int, str]:
    sha = hashlib.sha256()
    total = 0
    while data := reader.read(chunk):
        sha.update(data)
        total += len(data)
    return total, sha.hexdigest()


@pytest.fixture
def identity() -> tuple[secrets.Secret, str]:
    return crypto.generate_identity()


def test_round_trip_of_empty_small_and_odd_sizes(identity: tuple[secrets.Secret, str]) -> None:
    secret, recipient = identity
    for size in (0, 1, 65535, 65536, 65537, 3 * MiB + 7):
        plain = Pattern(size)
        enc = crypto.encrypting_reader(plain, [recipient])
        dec = crypto.decrypting_reader(enc, [secret])
        assert drain(dec, 4096) == (size, plain.sha.hexdigest())


def test_large_stream_in_constant_memory(identity: tuple[secrets.Secret, str]) -> None:
    """128 MiB through encryption and decryption back to back: Python's peak allocation stays
    a few MiB (the bounded queues), not anything proportional to the input."""
    secret, recipient = identity
    size = 128 * MiB
    plain = Pattern(size)
    tracemalloc.start()
    try:
        dec = crypto.decrypting_reader(crypto.encrypting_reader(plain, [recipient]), [secret])
        total, digest = drain(dec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (total, digest) == (size, plain.sha.hexdigest())
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_ciphertext_is_age_and_both_recipients_can_decrypt() -> None:
    alice, alice_pub = crypto.generate_identity()
    bob, bob_pub = crypto.generate_identity()
    ct = crypto.encrypting_reader(io.BytesIO(b"PGDMP secret rows"), [alice_pub, bob_pub]).read()
    assert ct.startswith(b"age-encryption.org/v1\n") and b"secret rows" not in ct
    for who in (alice, bob):
        assert crypto.decrypting_reader(io.BytesIO(ct), [who]).read() == b"PGDMP secret rows"


def test_wrong_identity_is_a_crypto_error(identity: tuple[secrets.Secret, str]) -> None:
    _, recipient = identity
    other, _ = crypto.generate_identity()
    ct = crypto.encrypting_reader(io.BytesIO(b"x" * 1000), [recipient]).read()
    with pytest.raises(CryptoError, match="none of the given age identities") as info:
        crypto.decrypting_reader(io.BytesIO(ct), [other]).read(10)
    assert info.value.exit_code == 2


def test_no_identity_fails_before_reading() -> None:
    source = Pattern(10)
    with pytest.raises(CryptoError, match="no identity was given"):
        crypto.decrypting_reader(source, [])
    assert source.left == 10


@pytest.mark.parametrize("damage", ["flip", "truncate", "not-age"])
def test_damaged_ciphertext_is_an_integrity_error(identity: tuple[secrets.Secret, str], damage: str) -> None:
    secret, recipient = identity
    ct = bytearray(crypto.encrypting_reader(Pattern(200_000), [recipient]).read())
    if damage == "flip":
        ct[-1000] ^= 0x01
    elif damage == "truncate":
        del ct[-100:]
    else:
        ct = bytearray(b"PGDMP" + bytes(1000))
    reader = crypto.decrypting_reader(io.BytesIO(bytes(ct)), [secret])
    with pytest.raises(IntegrityError) as info:
        drain(reader)
    assert info.value.exit_code == 1


def test_source_errors_come_out_unchanged(identity: tuple[secrets.Secret, str]) -> None:
    """pg_dump failing (raised by the source at EOF) must reach the pipeline as itself."""
    _, recipient = identity
    failing = Pattern(300_000, fail_at_eof=SourceError("pg_dump failed (exit 1): aborting"))
    reader = crypto.encrypting_reader(failing, [recipient])
    with pytest.raises(SourceError, match="pg_dump failed"):
        drain(reader)


def test_worker_starts_on_first_read_only(identity: tuple[secrets.Secret, str]) -> None:
    secret, recipient = identity
    ct = crypto.encrypting_reader(io.BytesIO(b"abc"), [recipient]).read()
    source = io.BytesIO(ct)
    reader = crypto.decrypting_reader(source, [secret])
    time.sleep(0.05)
    assert source.tell() == 0  # the pipeline may hash the stored bytes without decrypting
    assert reader.read() == b"abc"


def test_close_stops_the_worker_when_the_consumer_gives_up(identity: tuple[secrets.Secret, str]) -> None:
    _, recipient = identity
    before = {t.name for t in threading.enumerate()}
    reader = crypto.encrypting_reader(Pattern(1 << 40), [recipient])  # a terabyte: never finishes alone
    got = 0
    while got < 10 * MiB:
        got += len(reader.read(MiB))
    reader.close()
    deadline = time.monotonic() + 5
    while any(t.name == "pgdrill-age-encrypt" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "pgdrill-age-encrypt" and t.name not in before for t in threading.enumerate())


def test_recipients_from_flags_and_file(tmp_path: Path) -> None:
    _, a = crypto.generate_identity()
    _, b = crypto.generate_identity()
    _, c = crypto.generate_identity()
    path = tmp_path / "recipients.txt"
    path.write_text(f"# team\n{c}\n\n{a}\n")
    assert crypto.parse_recipients([a, f"{b},{a}"], path) == [a, b, c]
    with pytest.raises(ConfigError, match="invalid age recipient"):
        crypto.parse_recipients(["age1notakey"], None)
    with pytest.raises(ConfigError, match="cannot be read"):
        crypto.parse_recipients([], tmp_path / "missing.txt")


def test_secret_key_as_recipient_is_refused_without_echoing_it() -> None:
    secret, _ = crypto.generate_identity()
    with pytest.raises(ConfigError) as info:
        crypto.parse_recipients([secret.reveal()], None)
    assert secret.reveal() not in info.value.one_line()


def test_identities_from_file_and_env_value_are_registered_secrets(tmp_path: Path) -> None:
    s1, p1 = crypto.generate_identity()
    s2, _ = crypto.generate_identity()
    path = tmp_path / "keys.txt"
    path.write_text(f"# created: 2026-01-01\n# public key: {p1}\n{s1.reveal()}\n{s2.reveal()}\n")
    secrets.reset_for_tests()
    loaded = crypto.load_identities(str(path))
    assert [s.reveal() for s in loaded] == [s1.reveal(), s2.reveal()]
    assert secrets.scrub(f"key={s1.reveal()}") == "key=***"
    assert repr(loaded[0]) == "Secret('***')"
    assert crypto.load_identities(s2.reveal()) == [s2]  # PGDRILL_AGE_IDENTITY holds the key itself
    assert crypto.public_key(s1) == p1


@pytest.mark.parametrize("value", ["", "/nonexistent/key.txt", "AGE-SECRET-KEY-1NOTAKEY"])
def test_bad_identity_sources(value: str, tmp_path: Path) -> None:
    with pytest.raises(CryptoError) as info:
        crypto.load_identities(value)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.one_line()
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n")
    with pytest.raises(CryptoError, match="no age identity found"):
        crypto.load_identities(str(empty))
