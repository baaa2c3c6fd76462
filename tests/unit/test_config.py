from pathlib import Path

import pytest
from pydantic import BaseModel

from pgdrill import config
from pgdrill.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "pgdrill.yml"
    p.write_text(text)
    return str(p)


def test_environment_block_overrides_top_level(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "store: s3://b/top\nenvironments:\n  prod:\n    store: s3://b/prod\n"))
    assert cfg.flag("store") == "s3://b/top"
    assert cfg.flag("store", "prod") == "s3://b/prod"
    with pytest.raises(ConfigError, match="environment 'qa' is not defined"):
        cfg.flag("store", "qa")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, "store: [unclosed\nother: 1\n"))
    assert "pgdrill.yml line" in exc.value.one_line()


def test_unknown_key_and_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stroe: unknown key"):
        config.load(write(tmp_path, "stroe: ./x\n"))
    with pytest.raises(ConfigError, match="object_lock_days"):
        config.load(write(tmp_path, "object_lock_days: many\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config.load(write(tmp_path, "- a\n- b\n"))


def test_sections_validate_with_the_jobs_model(tmp_path: Path) -> None:
    class Drill(BaseModel):
        rto_target: str = "15m"
        max_errors: int = 0

    cfg = config.load(write(tmp_path, "drill:\n  max_errors: lots\n"))
    with pytest.raises(ConfigError, match=r"drill\.max_errors"):
        cfg.section("drill", Drill)
    text = "drill:\n  rto_target: 5m\nenvironments:\n  p:\n    drill:\n      max_errors: 2\n"
    cfg = config.load(write(tmp_path, text))
    assert cfg.section("drill", Drill, "p") == Drill(rto_target="5m", max_errors=2)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(str(tmp_path / "nope.yml"))


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("26h", 93600), ("7d", 604800), (30, 30)])
def test_durations(text: str | int, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        config.parse_duration("soon")
