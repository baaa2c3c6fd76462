"""docs/github-actions.md carries generated tables and examples: they must match the files."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml
from act_runner import ACTION_DIRS, ROOT

SCRIPT = ROOT / "scripts" / "gen-action-docs.py"
DOC = ROOT / "docs" / "github-actions.md"


def _gen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_action_docs", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_are_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_action_workflow_and_example_has_its_block() -> None:
    text = DOC.read_text()
    for folder in (".", *ACTION_DIRS):
        assert f"<!-- BEGIN GENERATED: action:{folder} -->" in text
    for name in ("drill.yml", "predeploy.yml", "fleet.yml"):
        assert f"<!-- BEGIN GENERATED: workflow:{name} -->" in text
    for example in sorted((ROOT / "examples" / "workflows").glob("*.yml")):
        assert f"<!-- BEGIN GENERATED: example:{example.name} -->" in text


def test_every_input_and_output_is_documented() -> None:
    text = DOC.read_text()
    for folder in (".", *ACTION_DIRS):
        doc = yaml.safe_load((ROOT / folder / "action.yml").read_text())
        for name in [*doc["inputs"], *doc["outputs"]]:
            assert f"| `{name}` |" in text, f"{folder}: {name}"


def test_check_fails_when_an_action_changes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    gen = _gen()
    fake_root = tmp_path / "root"
    (fake_root / "docs").mkdir(parents=True)
    (fake_root / "docs" / "github-actions.md").write_text(DOC.read_text())
    for folder in (".", *ACTION_DIRS):
        (fake_root / folder).mkdir(exist_ok=True)
        (fake_root / folder / "action.yml").write_text((ROOT / folder / "action.yml").read_text())
    for sub in (".github/workflows", "examples/workflows"):
        (fake_root / sub).mkdir(parents=True)
        for f in (ROOT / sub).glob("*.yml"):
            (fake_root / sub / f.name).write_text(f.read_text())
    monkeypatch.setattr(gen, "ROOT", fake_root)
    monkeypatch.setattr(gen, "DOC", fake_root / "docs" / "github-actions.md")
    assert gen.main(["--check"]) == 0
    backup = fake_root / "backup" / "action.yml"
    knob = "inputs:\n  new-knob:\n    description: A new knob.\n"
    backup.write_text(backup.read_text().replace("inputs:\n", knob, 1))
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert "| `new-knob` |" in (fake_root / "docs" / "github-actions.md").read_text()
    assert gen.main(["--check"]) == 0
