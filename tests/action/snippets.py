"""The YAML snippets of README.md and docs/*.md, and what it means for one to be an excerpt of an
example workflow (examples/workflows/), which the action tests run (test_action_examples.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.M | re.S)
#: top-level keys that make a YAML block part of a workflow (the others are pgdrill.yml)
WORKFLOW_KEYS = {True, "on", "jobs", "permissions", "steps", "uses"}  # YAML 1.1 reads `on` as True


@dataclass(frozen=True)
class Snippet:
    document: Path
    line: int
    text: str

    @property
    def doc(self) -> Any:
        return yaml.safe_load(self.text)

    @property
    def is_workflow(self) -> bool:
        doc = self.doc
        return isinstance(doc, dict) and bool(WORKFLOW_KEYS & set(doc))

    @property
    def is_whole_workflow(self) -> bool:
        """A workflow file as it stands: something a user can paste into .github/workflows/."""
        doc = self.doc
        return self.is_workflow and (True in doc or "on" in doc) and "jobs" in doc

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def snippets() -> list[Snippet]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group("lang") in ("yaml", "yml"):
                found.append(Snippet(document, text[:m.start()].count("\n") + 1, m.group("body")))
    return found


def is_excerpt(part: Any, whole: Any) -> bool:
    """``part`` is ``whole`` with things left out: mapping keys dropped, list items dropped (the rest
    in order), nothing changed or added. Comments do not count; values are compared as YAML reads
    them."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and is_excerpt(v, whole[k]) for k, v in part.items())
    if isinstance(part, list):
        if not isinstance(whole, list):
            return False
        rest = iter(whole)
        return all(any(is_excerpt(item, candidate) for candidate in rest) for item in part)
    return bool(part == whole and type(part) is type(whole))


def example_of(snippet: Snippet) -> Path | None:
    """The example workflow the snippet is an excerpt of."""
    for example in EXAMPLES:
        if is_excerpt(snippet.doc, yaml.safe_load(example.read_text(encoding="utf-8"))):
            return example
    return None
