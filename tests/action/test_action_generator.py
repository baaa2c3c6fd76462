"""The action files are generated from one description (.github/action/spec.yml) by
scripts/gen-actions.py: the committed files must be what it writes, and adding an input or a command
to the description must be all it takes to get it into every action it belongs to."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from act_runner import ACTION_DIRS, ROOT

SCRIPT = ROOT / "scripts" / "gen-actions.py"
SPEC = ROOT / ".github" / "action" / "spec.yml"
MARKETPLACE_DESCRIPTION_LIMIT = 125


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_actions", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _tree(tmp_path: Path, spec_text: str) -> Path:
    """A copy of the files the generator reads and writes, with another description."""
    out = tmp_path / "tree"
    (out / ".github" / "action").mkdir(parents=True)
    (out / "docs").mkdir()
    shutil.copy2(ROOT / "docs" / "github-actions.md", out / "docs" / "github-actions.md")
    for sub in (".github/workflows", "examples/workflows"):
        shutil.copytree(ROOT / sub, out / sub)
    spec = out / ".github" / "action" / "spec.yml"
    spec.write_text(spec_text)
    return out


def _generate(out: Path) -> None:
    assert _gen().main(["--spec", str(out / ".github" / "action" / "spec.yml"), "--out", str(out)]) == 0


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_committed_action_files_are_what_the_generator_writes() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_check_names_a_stale_file(tmp_path: Path) -> None:
    out = _tree(tmp_path, SPEC.read_text())
    _generate(out)
    gen = _gen()
    spec = str(out / ".github" / "action" / "spec.yml")
    assert gen.main(["--check", "--spec", spec, "--out", str(out)]) == 0
    drill = out / "drill" / "action.yml"
    drill.write_text(drill.read_text().replace("pgdrill drill", "pgdrill drill (edited by hand)"))
    assert gen.main(["--check", "--spec", spec, "--out", str(out)]) == 1


def test_root_action_description_fits_the_marketplace() -> None:
    description = _load(ROOT / "action.yml")["description"]
    assert 0 < len(description) < MARKETPLACE_DESCRIPTION_LIMIT, (len(description), description)


def test_one_line_adds_a_secret_input_to_the_actions_it_belongs_to(tmp_path: Path) -> None:
    """A notification input as a later change would add it: one line in spec.yml."""
    line = ('  ping-url: {for: [backup, drill, monitor], pass: env, secret: true, '
            'description: "healthchecks.io-style URL pinged at start, success and failure."}\n')
    text = SPEC.read_text()
    anchor = "  store: {for: "
    assert anchor in text
    out = _tree(tmp_path, text.replace(anchor, line + anchor, 1))
    _generate(out)

    for folder in (".", "backup", "drill", "monitor"):
        action = _load(out / folder / "action.yml")
        assert "ping-url" in action["inputs"], folder
        steps = {s.get("id"): s for s in action["runs"]["steps"]}
        # masked in the first step, handed to pgdrill through the variable it reads
        assert steps["setup"]["env"]["PGDRILL_ACTION_MASK_PING_URL"] == "${{ inputs.ping-url }}"
        assert steps["run"]["env"]["PGDRILL_INPUT_PING_URL"] == "${{ inputs.ping-url }}"
    for folder in ("predeploy", "restore", "prune"):
        assert "ping-url" not in _load(out / folder / "action.yml")["inputs"], folder
    table = (out / ".github" / "action" / "args.tsv").read_text()
    assert "backup\tenv\tPGDRILL_INPUT_PING_URL\tPGDRILL_PING_URL" in table
    assert "prune\tenv\tPGDRILL_INPUT_PING_URL" not in table
    # and the reference in the docs follows
    assert "| `ping-url` |" in (out / "docs" / "github-actions.md").read_text()


def test_a_new_command_gets_its_own_action(tmp_path: Path) -> None:
    """A command as a later change would add it (`verify`, say): a few lines under `commands:`; inputs
    `for: all` reach it without being touched."""
    text = SPEC.read_text().replace("commands:\n", (
        "commands:\n  verify:\n    name: pgdrill verify\n    icon: check\n    client: true\n"
        "    description: Read a stored backup back and check it.\n"), 1)
    out = _tree(tmp_path, text)
    _generate(out)
    added = _load(out / "verify" / "action.yml")
    assert {"environment", "config", "args", "python", "venv", "cache"} <= set(added["inputs"])
    assert "database-url" not in added["inputs"]
    run = next(s for s in added["runs"]["steps"] if s.get("id") == "run")
    assert run["env"]["PGDRILL_ACTION_COMMAND"] == "verify"
    assert "PostgreSQL client" in [s["name"] for s in added["runs"]["steps"]]
    root = _load(out / "action.yml")
    assert "verify" in root["inputs"]["command"]["description"]
    assert "verify\tcommand\t-\t-" in (out / ".github" / "action" / "args.tsv").read_text()


@pytest.mark.parametrize(("line", "message"), [
    ('  bad: {for: [backup], pass: "--x?", description: ""}\n', "description is missing"),
    ('  bad: {for: [nope], pass: env, description: "x"}\n', "unknown command(s) nope"),
    ('  bad: {for: [backup], pass: maybe, description: "x"}\n', "is not env, --flag"),
    ('  bad: {for: [backup], pass: env, descripton: "x"}\n', "unknown key(s) descripton"),
])
def test_a_broken_description_is_refused_with_the_input_named(tmp_path: Path, line: str, message: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = _tree(tmp_path, SPEC.read_text().replace("inputs:\n", "inputs:\n" + line, 1))
    assert _gen().main(["--spec", str(out / ".github" / "action" / "spec.yml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "input bad" in err and message in err, err
    assert not (out / "action.yml").exists()


def test_every_command_folder_is_generated() -> None:
    spec = _load(SPEC)
    assert list(spec["commands"]) == list(ACTION_DIRS)
    for folder in ACTION_DIRS:
        assert (ROOT / folder / "action.yml").read_text().startswith("# Generated by scripts/gen-actions.py")
