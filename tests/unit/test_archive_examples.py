"""The monthly-drill examples for dumps made by other tools stay copy-paste ready: the pgdrill.yml
each one tells you to commit is valid, names an archive set, and its pattern parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pgdrill import config
from pgdrill.archives.pattern import parse
from pgdrill.checks import ChecksConfig

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "workflows").glob("monthly-drill-*.yml"))


def _snippet(text: str) -> str:
    m = re.search(r"# Commit this pgdrill.yml[^\n]*\n#\n((?:#   .*\n|#\n)+)", text)
    assert m, "the example shows the pgdrill.yml to commit"
    return "\n".join(line[4:] if line.startswith("#   ") else "" for line in m.group(1).splitlines()) + "\n"


def test_there_is_one_example_per_script_style() -> None:
    assert {p.name for p in EXAMPLES} == {"monthly-drill-s3-custom.yml", "monthly-drill-s3-sql-gz.yml",
                                          "monthly-drill-npm-backups.yml", "monthly-drill-manual-sql.yml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_pgdrill_yml_of_each_example_is_valid(path: Path, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    cfg_file = tmp_path / "pgdrill.yml"
    cfg_file.write_text(_snippet(text), encoding="utf-8")
    cfg = config.load(str(cfg_file))
    parse(cfg.data["archives"])
    cfg.section("checks", ChecksConfig)
    workflow = yaml.safe_load(text)
    job = workflow["jobs"]["drill"]
    assert job["uses"].startswith("OWNER/pgdrill/.github/workflows/drill.yml@")
    assert job["with"]["config"] == "pgdrill.yml" and job["with"]["store"]  # the records' place
    assert not job["with"]["store"].startswith(cfg.data["archives"].split("*")[0])  # never inside the set
