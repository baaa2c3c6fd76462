"""The point-in-time drill examples (examples/pitr/) are valid workflows that use only inputs the
drill action has (generated from .github/action/spec.yml), and only variables pgdrill reads."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from act_runner import ROOT
from test_action_files import _tool

EXAMPLES = sorted((ROOT / "examples" / "pitr").glob("*.yml"))


def test_there_are_both_examples() -> None:
    assert {p.name for p in EXAMPLES} == {"self-hosted-pgbackrest.yml", "cloudnativepg-bucket.yml"}


def test_the_github_schema_accepts_them() -> None:
    proc = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, EXAMPLES)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _drill_steps(path: Path) -> list[dict[str, object]]:
    doc = yaml.safe_load(path.read_text())
    return [s for job in doc["jobs"].values() for s in job["steps"] if str(s.get("uses", "")).endswith("/drill@v1")]


def test_they_use_only_the_drill_actions_inputs_and_pgdrills_variables() -> None:
    inputs = set(yaml.safe_load((ROOT / "drill" / "action.yml").read_text())["inputs"])
    from pgdrill.cli import cli

    drill = cli.commands["drill"]
    envvars = {p.envvar for p in drill.params if getattr(p, "envvar", None)} | {"PGDRILL_COPIES_DIR"}
    for path in EXAMPLES:
        steps = _drill_steps(path)
        assert steps, path
        for step in steps:
            assert set(step.get("with") or {}) <= inputs, path  # type: ignore[arg-type]
            names = set(step.get("env") or {})  # type: ignore[arg-type]
            assert names <= envvars, (path, names - envvars)
            given = set(step.get("with") or {})  # type: ignore[arg-type]
            assert any(re.match(r"(pgbackrest|barman)-", n) for n in given) and "at" in given
