"""The README's first command, scripts/demo, from a copy of the checkout: it makes its own venv
(Debian and Ubuntu refuse `pip install .` into the system Python, PEP 668), installs pgdrill and
runs `pgdrill demo`. Its apt paths as root (python3-venv, the libraries of a downloaded PostgreSQL
build) are checked on a fresh Debian root filesystem by scripts/check-fresh-debian, not here."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _copy_checkout(dest: Path) -> Path:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file() and not rel.startswith("tests/"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can read (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pgdrill-first-command-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "PATH", "LANG", "LC_"))}
    return {**keep, **extra}


@pytest.mark.slow
def test_first_command_installs_into_its_own_venv_and_runs_the_demo(tmp_path: Path) -> None:
    checkout = _copy_checkout(tmp_path / "pgdrill")
    venv = tmp_path / "venv"
    env = _env(HOME=str(tmp_path), PGDRILL_VENV=str(venv))
    r = subprocess.run(["./scripts/demo"], cwd=checkout, env=env, capture_output=True, text=True,
                       timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "installing pgdrill into" in r.stderr
    assert "verdict      PASSED" in r.stdout
    assert (venv / "bin" / "pgdrill").is_file()
    assert (checkout / "pgdrill-demo" / "backups").is_dir()

    again = subprocess.run(["./scripts/demo"], cwd=checkout, env=env, capture_output=True, text=True,
                           timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "installing pgdrill" not in again.stderr  # the venv is there: straight to the demo


def test_without_ensurepip_a_user_is_told_the_package_to_install(shared_dir: Path) -> None:
    """Debian's python3 without python3-venv, reproduced by hiding its ensurepip in a private
    mount namespace, for an unprivileged user (who cannot apt-get)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not DEBIAN_PYTHON.exists():
        pytest.skip("needs root, unshare and the system python3")
    version = subprocess.run([str(DEBIAN_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ensurepip = Path(f"/usr/lib/python{version}/ensurepip")
    if not ensurepip.is_dir():
        pytest.skip(f"{ensurepip} is not where this system keeps ensurepip")
    checkout = _copy_checkout(shared_dir / "pgdrill")
    empty = shared_dir / "empty"
    empty.mkdir()
    work = shared_dir / "work"
    work.mkdir()
    shutil.chown(work, "postgres")
    script = (f"mount --bind {empty} {ensurepip} && "
              f"exec runuser -u postgres -- env PYTHON={DEBIAN_PYTHON} PGDRILL_VENV={work}/venv HOME={work} "
              f"PATH=/usr/bin:/bin ./scripts/demo")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script], cwd=checkout,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "ensurepip is missing" in r.stderr
    assert f"sudo apt-get install python{version}-venv" in r.stderr
    assert not (work / "venv").exists()  # no half-made venv left to trip the next run
    assert ensurepip.joinpath("__init__.py").exists()  # the namespace hid it from that process only
