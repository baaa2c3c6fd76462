#!/usr/bin/env python3
"""Release pgdrill's actions: a stamped release commit, its version tag, and the moving major tag.

The files on the branch say `OWNER/pgdrill/backup@v1`; a user copies `acme/pgdrill/backup@v1`. The
release commit is the branch's commit with every such reference stamped: the owner from
.github/release.yml (or the `origin` remote), `@v<major>` for what users copy, and
`@v<version>` where pgdrill's reusable workflows call its own actions (a workflow pinned to a
release runs that release's actions). The commit sits on no branch: tag `v<version>` names it and
the major tag `v<major>` moves to it, which is how `@v1` follows the newest 1.x release.

    scripts/release.py 1.2.0                  stamp, commit, tag v1.2.0, move v1 (nothing pushed)
    scripts/release.py 1.2.0 --push origin    ... and push both tags (v1 with --force)
    scripts/release.py 1.2.0 --dry-run        show what would change, write nothing
    scripts/release.py --stamp-only --out DIR copy the stamped files into DIR (no git objects)

Refuses (exit 2) a dirty tree, a version that is not pyproject.toml's, an existing version tag,
or an owner it cannot find.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SETTING = Path(".github/release.yml")
#: files that talk about the placeholder itself (and the tests, which run the unstamped sources)
UNSTAMPED = ("tests/", "scripts/release.py", str(SETTING))
REFERENCE = re.compile(r"OWNER/pgdrill(?P<path>(?:/[A-Za-z0-9_.-]+)*)(?:@v1\b)?")
VERSION = re.compile(r"^(?P<major>0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)$")
REMOTE = re.compile(r"github\.com[:/](?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


class ReleaseError(Exception):
    pass


def git(*args: str, root: Path, env: dict[str, str] | None = None, text_input: str | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, input=text_input)
    if proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def repository(root: Path, given: str | None) -> str:
    setting = root / SETTING
    configured = ""
    if setting.exists():
        configured = str((yaml.safe_load(setting.read_text(encoding="utf-8")) or {}).get("repository") or "")
    repo = given or configured
    if not repo:
        try:
            url = git("remote", "get-url", "origin", root=root).strip()
        except ReleaseError:
            url = ""
        m = REMOTE.search(url)
        repo = m.group("repo") if m else ""
    if not repo or repo.startswith("OWNER/"):
        raise ReleaseError(f"no repository to stamp: set `repository: owner/name` in {SETTING}, "
                           "pass --repository, or add a GitHub `origin` remote")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise ReleaseError(f"repository {repo!r} must look like owner/name")
    return repo


def stamp_text(text: str, path: str, repo: str, version: str) -> str:
    major = VERSION.match(version)
    assert major
    own_workflow = path.startswith(".github/workflows/")

    def replace(m: re.Match[str]) -> str:
        ref = m.group(0)
        if not ref.endswith("@v1"):
            return repo + m.group("path")
        tag = f"v{version}" if own_workflow and not m.group("path").startswith("/.github/") else f"v{major['major']}"
        return f"{repo}{m.group('path')}@{tag}"

    return REFERENCE.sub(replace, text)


def stamped(root: Path, repo: str, version: str) -> dict[str, str]:
    """path -> stamped text, for every tracked file that changes."""
    changed = {}
    for path in git("ls-files", "-z", root=root).split("\0"):
        if not path or path.startswith(UNSTAMPED):
            continue
        try:
            text = (root / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        if "OWNER/" not in text:
            continue
        new = stamp_text(text, path, repo, version)
        if "OWNER/" in new:
            line = next(ln for ln in new.splitlines() if "OWNER/" in ln)
            raise ReleaseError(f"{path}: a reference the release cannot stamp: {line.strip()}")
        changed[path] = new
    return changed


def project_version(root: Path) -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    return m.group(1) if m else ""


def release(root: Path, version: str, repo: str, dry_run: bool = False, push: str | None = None) -> str:
    m = VERSION.match(version)
    if not m:
        raise ReleaseError(f"version {version!r} must be MAJOR.MINOR.PATCH, e.g. 1.2.0")
    if project_version(root) != version:
        raise ReleaseError(f"pyproject.toml says version {project_version(root)!r}: set it to {version!r} "
                           "and commit first")
    if git("status", "--porcelain", "--untracked-files=no", root=root).strip():
        raise ReleaseError("the working tree has uncommitted changes: commit or stash them first")
    tag, major = f"v{version}", f"v{m.group('major')}"
    if git("tag", "--list", tag, root=root).strip():
        raise ReleaseError(f"tag {tag} exists already")
    files = stamped(root, repo, version)
    for path in sorted(files):
        print(f"stamp {path}")
    if dry_run:
        print(f"dry run: would commit {len(files)} stamped files, tag {tag} and move {major}")
        return ""
    head = git("rev-parse", "HEAD", root=root).strip()
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git("read-tree", head, root=root, env=index)
        for path, text in files.items():
            blob = git("hash-object", "-w", "--stdin", root=root, text_input=text).strip()
            mode = git("ls-files", "-s", "--", path, root=root).split()[0]
            git("update-index", "--cacheinfo", f"{mode},{blob},{path}", root=root, env=index)
        tree = git("write-tree", root=root, env=index).strip()
    commit = git("commit-tree", tree, "-p", head, "-m", f"Release {tag} of {repo}\n\nStamped from {head}.",
                 root=root).strip()
    git("tag", "-a", tag, "-m", f"pgdrill {version}", commit, root=root)
    git("tag", "-f", "-a", major, "-m", f"pgdrill {version} (latest {major}.x)", commit, root=root)
    print(f"{tag} and {major} -> {commit} (stamped from {head}; the branch is unchanged)")
    if push:
        git("push", push, f"refs/tags/{tag}", root=root)
        git("push", "--force", push, f"refs/tags/{major}", root=root)
        print(f"pushed {tag} and {major} to {push}")
    else:
        print(f"publish: git push origin {tag} && git push --force origin {major}")
    return commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help="the release, e.g. 1.2.0 (pyproject.toml's version)")
    parser.add_argument("--repository", help=f"owner/name to stamp (default: {SETTING}, else the origin remote)")
    parser.add_argument("--dry-run", action="store_true", help="show the stamped files, write nothing")
    parser.add_argument("--push", metavar="REMOTE", help="push the tags to REMOTE")
    parser.add_argument("--stamp-only", action="store_true", help="write the stamped files into --out, no git")
    parser.add_argument("--out", type=Path, help="with --stamp-only: where the stamped files go")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        repo = repository(args.root, args.repository)
        if args.stamp_only:
            if args.out is None:
                raise ReleaseError("--stamp-only needs --out DIR")
            for path, text in stamped(args.root, repo, args.version or project_version(args.root)).items():
                (args.out / path).parent.mkdir(parents=True, exist_ok=True)
                (args.out / path).write_text(text, encoding="utf-8")
            return 0
        if not args.version:
            raise ReleaseError("give the version to release, e.g. scripts/release.py 1.2.0")
        release(args.root, args.version, repo, args.dry_run, args.push)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
