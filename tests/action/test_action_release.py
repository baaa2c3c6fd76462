"""scripts/release.py: the owner is one setting, stamped into a release commit that the version tag
names and the major tag follows; no `OWNER/` is left in what a user gets."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from act_runner import ROOT

SCRIPT = ROOT / "scripts" / "release.py"


def _release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
                          capture_output=True, text=True, check=True).stdout


def _set_version(repo: Path, version: str) -> None:
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    current = _release().project_version(repo)
    pyproject.write_text(text.replace(f'version = "{current}"', f'version = "{version}"', 1))
    _git(repo, "commit", "-qam", f"version {version}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The project's tracked files as they are in the working tree, in a fresh repository."""
    dest = tmp_path / "pgdrill"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "sources")
    _set_version(dest, "1.0.0")
    return dest


def _run(repo: Path, *args: str) -> int:
    return int(_release().main([*args, "--root", str(repo)]))


def _at(repo: Path, ref: str, path: str) -> str:
    return _git(repo, "show", f"{ref}:{path}")


def test_release_stamps_the_owner_and_moves_the_major_tag(repo: Path) -> None:
    main_before = _git(repo, "rev-parse", "HEAD").strip()
    assert _run(repo, "1.0.0", "--repository", "acme/pgdrill") == 0

    commit = _git(repo, "rev-parse", "v1.0.0^{commit}").strip()
    assert _git(repo, "rev-parse", "v1^{commit}").strip() == commit
    assert _git(repo, "rev-parse", f"{commit}^").strip() == main_before
    # the branch and the working tree are as they were
    assert _git(repo, "rev-parse", "HEAD").strip() == main_before
    assert _git(repo, "status", "--porcelain") == ""
    assert "OWNER/pgdrill/backup@v1" in (repo / "examples" / "workflows" / "nightly-backup.yml").read_text()

    # no OWNER/ left in anything a user gets from the release
    leftovers = subprocess.run(["git", "-C", str(repo), "grep", "-l", "OWNER/", "v1.0.0", "--", ".",
                                ":!tests", ":!scripts/release.py", ":!.github/release.yml"],
                               capture_output=True, text=True, check=False)
    assert leftovers.returncode == 1 and leftovers.stdout == "", leftovers.stdout
    assert "uses: acme/pgdrill/backup@v1\n" in _at(repo, "v1.0.0", "examples/workflows/nightly-backup.yml")
    assert "- uses: acme/pgdrill/backup@v1\n" in _at(repo, "v1.0.0", "README.md")
    # pgdrill's own reusable workflow runs the actions of its own release
    drill = _at(repo, "v1.0.0", ".github/workflows/drill.yml")
    assert "uses: acme/pgdrill/drill@v1.0.0\n" in drill
    assert "uses: acme/pgdrill/.github/workflows/drill.yml@v1\n" in drill  # the usage comment users copy
    for path in (".github/workflows/drill.yml", ".github/workflows/predeploy.yml", "action.yml"):
        assert isinstance(yaml.safe_load(_at(repo, "v1.0.0", path)), dict)

    # the next release moves v1 and leaves v1.0.0 where it was
    _set_version(repo, "1.1.0")
    assert _run(repo, "1.1.0", "--repository", "acme/pgdrill") == 0
    assert _git(repo, "rev-parse", "v1.0.0^{commit}").strip() == commit
    assert _git(repo, "rev-parse", "v1^{commit}").strip() == _git(repo, "rev-parse", "v1.1.0^{commit}").strip()
    assert "uses: acme/pgdrill/drill@v1.1.0\n" in _at(repo, "v1", ".github/workflows/drill.yml")


def test_the_owner_comes_from_the_setting_else_the_origin_remote(repo: Path) -> None:
    release = _release()
    with pytest.raises(release.ReleaseError, match="no repository to stamp"):
        release.repository(repo, None)
    _git(repo, "remote", "add", "origin", "git@github.com:forker/pgdrill.git")
    assert release.repository(repo, None) == "forker/pgdrill"
    (repo / ".github" / "release.yml").write_text("repository: acme/pgdrill\n")
    assert release.repository(repo, None) == "acme/pgdrill"
    assert release.repository(repo, "other/pgdrill") == "other/pgdrill"


@pytest.mark.parametrize(("prepare", "args", "message"), [
    ("dirty", ["1.0.0"], "uncommitted changes"),
    ("", ["1.0.1"], "pyproject.toml says version '1.0.0'"),
    ("", ["v1"], "must be MAJOR.MINOR.PATCH"),
    ("tagged", ["1.0.0"], "tag v1.0.0 exists already"),
])
def test_release_refuses(repo: Path, capsys: pytest.CaptureFixture[str], prepare: str, args: list[str],
                         message: str) -> None:
    if prepare == "dirty":
        (repo / "README.md").write_text("edited\n")
    if prepare == "tagged":
        _git(repo, "tag", "v1.0.0")
    assert _run(repo, *args, "--repository", "acme/pgdrill") == 2
    assert message in capsys.readouterr().err
    if prepare != "tagged":
        assert _git(repo, "tag", "--list") == ""


def test_a_reference_the_release_cannot_stamp_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "docs" / "extra.md").write_text("see OWNER/elsewhere\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "a stray placeholder")
    assert _run(repo, "1.0.0", "--repository", "acme/pgdrill") == 2
    assert "docs/extra.md: a reference the release cannot stamp" in capsys.readouterr().err
