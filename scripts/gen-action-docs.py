#!/usr/bin/env python3
"""Fill the generated parts of docs/github-actions.md from the files they describe.

Blocks between ``<!-- BEGIN GENERATED: <name> -->`` and ``<!-- END GENERATED: <name> -->`` are
rewritten; everything else in the document is left as written. Names:

  action:<dir>       inputs and outputs tables of <dir>/action.yml ("." for the root action)
  workflow:<file>    inputs, secrets and outputs of .github/workflows/<file> (workflow_call)
  example:<file>     the example workflow examples/workflows/<file>, verbatim

    scripts/gen-action-docs.py           rewrite the document
    scripts/gen-action-docs.py --check   exit 1 (and say where) when the document is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "github-actions.md"
BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>[^ ]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)",
                   re.S)


def _cell(text: object) -> str:
    s = " ".join(str(text).split())
    return s.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _default(spec: dict[str, Any]) -> str:
    if spec.get("required"):
        return "**required**"
    default = spec.get("default")
    if default in (None, ""):
        return ""
    return f"`{_cell(default)}`"


def _inputs_table(inputs: dict[str, Any], with_type: bool = False) -> list[str]:
    head = "| input | type | default | description |" if with_type else "| input | default | description |"
    rows = [head, "|---|---|---|---|" if with_type else "|---|---|---|"]
    for name, spec in inputs.items():
        cells = [f"`{name}`"] + ([spec.get("type", "string")] if with_type else [])
        cells += [_default(spec), _cell(spec.get("description", ""))]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _outputs_table(outputs: dict[str, Any]) -> list[str]:
    rows = ["| output | description |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(spec.get('description', ''))} |" for name, spec in outputs.items()]
    return rows


def action_block(folder: str) -> str:
    doc = yaml.safe_load((ROOT / folder / "action.yml").read_text(encoding="utf-8"))
    lines = [f"_{_cell(doc['description'])}_", "", *_inputs_table(doc.get("inputs") or {}), "",
             *_outputs_table(doc.get("outputs") or {})]
    return "\n".join(lines) + "\n"


def workflow_block(name: str) -> str:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    call = (doc.get("on") or doc.get(True))["workflow_call"]  # YAML 1.1 reads the key `on` as True
    lines = [*_inputs_table(call.get("inputs") or {}, with_type=True), ""]
    secrets = call.get("secrets") or {}
    if secrets:
        lines += ["| secret | required | description |", "|---|---|---|"]
        lines += [f"| `{n}` | {'yes' if s.get('required') else 'no'} | {_cell(s.get('description', ''))} |"
                  for n, s in secrets.items()]
    else:  # it reads the caller's secrets by name
        lines += ["No declared secrets: call it with `secrets: inherit`."]
    lines += ["", *_outputs_table(call.get("outputs") or {})]
    return "\n".join(lines) + "\n"


def example_block(name: str) -> str:
    text = (ROOT / "examples" / "workflows" / name).read_text(encoding="utf-8")
    return f"```yaml\n# examples/workflows/{name}\n{text.rstrip()}\n```\n"


def render(name: str) -> str:
    kind, _, arg = name.partition(":")
    if kind == "action":
        return action_block(arg)
    if kind == "workflow":
        return workflow_block(arg)
    if kind == "example":
        return example_block(arg)
    raise SystemExit(f"{DOC}: unknown generated block {name!r}")


def generate(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when out of date")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    fresh = generate(current)
    if args.check:
        if fresh != current:
            stale = [m.group("name") for m in BLOCK.finditer(current)
                     if m.group("body") != render(m.group("name"))]
            print(f"{DOC.relative_to(ROOT)} is out of date ({', '.join(stale)}): run scripts/gen-action-docs.py",
                  file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        DOC.write_text(fresh, encoding="utf-8")
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
