"""age public-key encryption of archives, streaming both ways in constant memory.

Why pyrage: it binds the Rust `age` implementation (rage), ships abi3 wheels for Linux, macOS and
Windows, is actively maintained, and has ``encrypt_io``/``decrypt_io`` that copy between file-like
objects in 64 KiB age STREAM chunks (8 KiB reads, 64 KiB writes) — never the whole archive. The
alternatives were weaker: the ``age`` binary (Debian/Ubuntu package) streams too, but is one more
system package every runner must install and needs the secret key written to a file for ``-i``;
the pure-Python ``age`` package on PyPI has had no release since 2023.

pyrage's streaming API is push-style (it reads a source and writes a sink until done), while the
pipelines pull with ``.read(n)``. So each stream runs pyrage in a worker thread that writes into a
small bounded queue; :meth:`CryptoStream.read` takes from it. Memory is bounded by the queue
(``_QUEUE_CHUNKS`` chunks of at most 64 KiB), whatever the archive size.

Errors keep their meaning across the thread: an exception raised by the source (pg_dump failed,
the store connection dropped) comes out of ``read()`` unchanged; no matching identity is a
:class:`CryptoError` (exit 2); a damaged or truncated ciphertext is an :class:`IntegrityError`.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyrage
from pyrage import ssh, x25519

from pgdrill.errors import ConfigError, CryptoError, IntegrityError
from pgdrill.secrets import Secret
from pgdrill.store.base import Readable

_QUEUE_CHUNKS = 8
_SOURCE_READ = 256 * 1024
_EOF = b""
_IDENTITY_HINT = "pass --age-identity-file FILE, or set PGDRILL_AGE_IDENTITY to the AGE-SECRET-KEY-1… key"


class ClosableReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _Closed(Exception):
    """The consumer closed the stream; unwinds pyrage's copy loop in the worker."""


class _State:
    """What the worker and the consumer share. Holds no reference to the consumer object, so a
    forgotten stream is garbage-collected and its finalizer stops the worker."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self.closed = threading.Event()
        self.error: BaseException | None = None
        self.source_error: BaseException | None = None

    def put(self, data: bytes) -> None:
        while True:
            if self.closed.is_set():
                raise _Closed
            try:
                self.chunks.put(data, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        self.closed.set()
        # Free the queue so a worker blocked on put() notices the close promptly.
        while True:
            try:
                self.chunks.get_nowait()
            except queue.Empty:
                break


class _Source:
    """The worker's view of the source: larger reads than pyrage's 8 KiB, and the first exception
    remembered so the consumer can re-raise the original instead of pyrage's wrapped text."""

    def __init__(self, source: Readable, state: _State) -> None:
        self.source = source
        self.state = state
        self.buf = b""
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        if self.state.closed.is_set():
            raise _Closed
        if self.pos >= len(self.buf):
            try:
                self.buf = self.source.read(max(size, _SOURCE_READ) if size and size > 0 else _SOURCE_READ)
            except BaseException as exc:
                self.state.source_error = exc
                raise
            self.pos = 0
            if not self.buf:
                return _EOF
        n = len(self.buf) - self.pos if size is None or size < 0 else size
        data = self.buf[self.pos : self.pos + n]
        self.pos += len(data)
        return data

    def readable(self) -> bool:
        return True


class _Sink:
    def __init__(self, state: _State) -> None:
        self.state = state

    def write(self, data: bytes) -> int:
        self.state.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def writable(self) -> bool:
        return True


class CryptoStream:
    """A pull-style reader over a pyrage push-style copy running in a worker thread.

    The worker starts on the first ``read()``, so a stream that is built but never read (e.g. a
    pipeline that only hashes the stored bytes) never touches its source.
    """

    def __init__(self, source: Readable, copy: Callable[[Any, Any], None],
                 translate: Callable[[BaseException], BaseException], name: str) -> None:
        self._source = source
        self._copy = copy
        self._translate = translate
        self._name = name
        self._state = _State()
        self._thread: threading.Thread | None = None
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._finalizer = weakref.finalize(self, self._state.close)

    def _start(self) -> None:
        state, source, copy = self._state, self._source, self._copy

        def work() -> None:
            src = _Source(source, state)
            try:
                copy(src, _Sink(state))
            except _Closed:
                return
            except BaseException as exc:
                if state.closed.is_set():
                    return
                state.error = state.source_error or exc
            try:
                state.put(_EOF)
            except _Closed:
                return

        self._thread = threading.Thread(target=work, name=f"pgdrill-{self._name}", daemon=True)
        self._thread.start()

    def _next_chunk(self) -> bool:
        if self._eof:
            return False
        if self._state.closed.is_set():
            raise ValueError("read from a closed stream")
        if self._thread is None:
            self._start()
        chunk = self._state.chunks.get()
        if chunk == _EOF:
            self._eof = True
            if self._state.error is not None:
                error = self._state.error
                translated = self._translate(error)
                raise translated from (None if translated is error else error)
            return False
        self._buf, self._pos = chunk, 0
        return True

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            parts = [self._buf[self._pos :]]
            self._buf, self._pos = b"", 0
            while self._next_chunk():
                parts.append(self._buf)
            self._buf = b""
            return b"".join(parts)
        if size == 0:
            return b""
        if self._pos >= len(self._buf) and not self._next_chunk():
            return _EOF
        data = self._buf[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._finalizer()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CryptoStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- recipients -------------------------------------------------------------------------------
_Recipient = x25519.Recipient | ssh.Recipient


def _recipient(text: str) -> _Recipient:
    try:
        if text.startswith("age1"):
            return x25519.Recipient.from_str(text)
        if text.startswith(("ssh-", "ecdsa-")):
            return ssh.Recipient.from_str(text)
    except (pyrage.RecipientError, ValueError) as exc:
        raise ConfigError(f"invalid age recipient {_short(text)}: {exc}",
                          "use an age1… public key (age-keygen -y) or an ssh-ed25519/ssh-rsa public key") from None
    raise ConfigError(f"invalid age recipient {_short(text)}: not an age1… or ssh- public key",
                      "use an age1… public key (age-keygen -y) or an ssh-ed25519/ssh-rsa public key")


def _short(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:20] + "…")


def _recipient_lines(lines: Iterable[str]) -> list[str]:
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("ssh-", "ecdsa-")):
            out.append(line)  # an SSH public key has spaces (type, key, comment)
        else:
            out.extend(part for part in line.replace(",", " ").split() if part)
    return out


def parse_recipients(values: Sequence[str], recipients_file: str | os.PathLike[str] | None = None) -> list[str]:
    """Validated recipients from flags (repeatable; commas/spaces also separate) and a recipients
    file (age's format: one per line, ``#`` comments). Public keys only, safe for the manifest."""
    texts = _recipient_lines(values)
    if recipients_file:
        path = Path(recipients_file)
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"recipients file {path} cannot be read: {exc.strerror or exc}") from None
        from_file = _recipient_lines(content.splitlines())
        if not from_file:
            raise ConfigError(f"recipients file {path} has no recipients")
        texts += from_file
    if any("AGE-SECRET-KEY-" in t.upper() for t in texts):
        raise ConfigError("a secret key was given as a recipient",
                          "pass the public key (age-keygen -y KEYFILE); backup runners never need the secret key")
    unique = list(dict.fromkeys(texts))
    for text in unique:
        _recipient(text)
    return unique


# -- identities -------------------------------------------------------------------------------
_Identity = x25519.Identity | ssh.Identity
_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----"


def _identity(secret: Secret) -> _Identity:
    text = secret.reveal()
    try:
        if text.startswith(_SSH_KEY):
            return ssh.Identity.from_buffer(text.encode())
        return x25519.Identity.from_str(text)
    except (pyrage.IdentityError, ValueError) as exc:
        # Never echo the value: a malformed key is still mostly a key.
        detail = str(exc) if "passphrase" in str(exc).lower() or "encrypted" in str(exc).lower() else "malformed key"
        raise CryptoError(f"age identity is not valid ({detail})", _IDENTITY_HINT) from None


def _identity_texts(content: str) -> list[str]:
    if _SSH_KEY in content:
        start = content.index(_SSH_KEY)
        end_marker = "-----END OPENSSH PRIVATE KEY-----"
        end = content.find(end_marker, start)
        if end < 0:
            return []
        return [content[start : end + len(end_marker)] + "\n"]
    out = []
    for raw in content.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def load_identities(path_or_value: str | os.PathLike[str]) -> list[Secret]:
    """Identities from an identity file, or from the key itself (PGDRILL_AGE_IDENTITY holds the
    file's content). Every identity is registered as a secret so reporters scrub it."""
    text = os.fspath(path_or_value)
    if not text.strip():
        raise CryptoError("no age identity given", _IDENTITY_HINT)
    if "AGE-SECRET-KEY-" in text.upper() or _SSH_KEY in text:
        content, where = text, "PGDRILL_AGE_IDENTITY"
    else:
        try:
            content = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise CryptoError(f"age identity file {text} cannot be read: {exc.strerror or exc}",
                              _IDENTITY_HINT) from None
        except UnicodeDecodeError:
            raise CryptoError(f"age identity file {text} is not a text file", _IDENTITY_HINT) from None
        where = text
    secrets_found = [Secret(t) for t in _identity_texts(content)]
    if not secrets_found:
        raise CryptoError(f"no age identity found in {where}", _IDENTITY_HINT)
    for s in secrets_found:
        _identity(s)  # fail now, with a clear message, rather than mid-restore
    return secrets_found


def public_key(identity: Secret) -> str:
    """The recipient (public key) of an x25519 identity."""
    ident = _identity(identity)
    if not isinstance(ident, x25519.Identity):
        raise CryptoError("only age x25519 identities have a derivable public key")
    return str(ident.to_public())


def generate_identity() -> tuple[Secret, str]:
    """A fresh x25519 identity and its recipient (for tests and `pgdrill` key set-up)."""
    ident = x25519.Identity.generate()
    return Secret(str(ident)), str(ident.to_public())


# -- streams ----------------------------------------------------------------------------------
def _encrypt_error(exc: BaseException) -> BaseException:
    if isinstance(exc, pyrage.EncryptError | OSError) and not isinstance(exc, CryptoError):
        return CryptoError(f"age encryption failed: {exc}")
    return exc


def _decrypt_error(exc: BaseException) -> BaseException:
    if isinstance(exc, pyrage.DecryptError):
        msg = str(exc)
        if "no matching keys" in msg.lower():
            return CryptoError("none of the given age identities can decrypt this backup",
                               "use the identity of one of the recipients listed in its manifest")
        return IntegrityError(f"encrypted archive is not a readable age file ({msg})")
    if isinstance(exc, OSError):
        return IntegrityError(f"encrypted archive failed age authentication, corrupt or truncated ({exc})")
    return exc


def encrypting_reader(source: Readable, recipients: Sequence[str]) -> CryptoStream:
    """Read plaintext from ``source``; ``read()`` yields the age ciphertext for ``recipients``."""
    if not recipients:
        raise ConfigError("encryption needs at least one age recipient")
    parsed = [_recipient(r) for r in recipients]

    def copy(src: Any, sink: Any) -> None:
        pyrage.encrypt_io(src, sink, parsed)

    return CryptoStream(source, copy, _encrypt_error, "age-encrypt")


def decrypting_reader(source: Readable, identities: Sequence[Secret]) -> CryptoStream:
    """Read age ciphertext from ``source``; ``read()`` yields the plaintext."""
    if not identities:
        raise CryptoError("the backup is age-encrypted and no identity was given", _IDENTITY_HINT)
    parsed = [_identity(i) for i in identities]

    def copy(src: Any, sink: Any) -> None:
        pyrage.decrypt_io(src, sink, parsed)

    return CryptoStream(source, copy, _decrypt_error, "age-decrypt")
