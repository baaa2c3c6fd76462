from pathlib import Path

import pytest

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
    from pgdrill.drill import DrillSettings

    with pytest.raises(ConfigError, match=r"drill\.trend"):
        config.load(write(tmp_path, "drill:\n  trend: lots\n"))
    text = "drill:\n  trend: 5\nenvironments:\n  p:\n    drill:\n      owners: dba\n"
    cfg = config.load(write(tmp_path, text))
    assert cfg.section("drill", DrillSettings, "p") == DrillSettings(trend=5, owners=["dba"])
    # an environment's bad key is named in its block
    with pytest.raises(ConfigError, match=r"environments\.p\.drill\.trend"):
        config.load(write(tmp_path, "drill:\n  trend: 5\nenvironments:\n  p:\n    drill:\n      trend: x\n"))


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(str(tmp_path / "nope.yml"))


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("26h", 93600), ("7d", 604800), (30, 30),
                                               ("1h30m", 5400), ("1d 12h", 129600), ("1.5h", 5400), (" 2w ", 1209600),
                                               ("3600", 3600)])
def test_durations(text: str | int, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize(("value", "why"), [
    ("soon", "is not a duration"), ("inf", "is not a duration"), ("nan", "is not a duration"),
    ("1e400", "is not a duration"), ("15 minutes", "is not a duration"), ("-5m", "is not a duration"),
    (float("inf"), "is not a finite duration"), (float("nan"), "is not a finite duration"),
    (1e300, "is longer than 1000 years"), ("400000d", "is longer than 1000 years"), (True, "is not a duration"),
])
def test_bad_duration(value: object, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as exc:
        config.parse_duration(value, "--rto-target")  # type: ignore[arg-type]
    assert exc.value.message.startswith("--rto-target '") and "1h30m" in (exc.value.hint or "")


def test_top_level_durations_are_checked_when_the_file_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, "rto_target: 15 minutes\n"))
    assert exc.value.message == f"{tmp_path / 'pgdrill.yml'}: rto_target: '15 minutes' is not a duration " \
                                "(use e.g. 90s, 15m, 1h30m, 26h or 7d)"
    with pytest.raises(ConfigError, match=r"environments\.prod\.rpo_target: 'inf' is not a duration"):
        config.load(write(tmp_path, "environments:\n  prod:\n    rpo_target: inf\n"))
    assert config.load(write(tmp_path, "max_age: off\nrto_target: 1h30m\n")).flag("rto_target") == "1h30m"


def test_unknown_keys_suggest_the_known_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, "stroe: ./x\n"))
    assert exc.value.hint is not None and exc.value.hint.startswith("did you mean 'store'?")
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, "chekcs:\n  row_counts: warn\n"))
    assert exc.value.hint is not None and exc.value.hint.startswith("did you mean 'checks'?")
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, "checks:\n  row_count: warn\n"))
    assert "checks.row_count: unknown key" in exc.value.message
    assert exc.value.hint is not None and exc.value.hint.startswith("did you mean 'row_counts'?")
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, "checks:\n  sql:\n    - name: a\n      sql: select 1\n      expcet: 1\n"))
    assert "checks.sql.0.expcet: unknown key" in exc.value.message
    assert exc.value.hint is not None and exc.value.hint.startswith("did you mean 'expect'?")


def test_every_section_is_checked_whichever_command_reads_the_file(tmp_path: Path) -> None:
    """A typo in checks: must fail the nightly backup, not surface at the monthly drill."""
    text = ("store: ./b\nchecks:\n  row_counts: warn\n  smoke:\n    - name: app\n      run: ./smoke.sh\n"
            "      timout: 5m\nretention:\n  keep_daily: 7\nmonitor:\n  max_age: 26h\nnotify:\n  ping_url: ftp://x\n")
    found = config.problems(tmp_path / "pgdrill.yml", __import__("yaml").safe_load(text))
    assert [e.message.split(": ", 1)[1] for e in found] == [
        "checks.smoke.0.timout: unknown key", "notify.ping_url: the URL must be an http:// or https:// URL"]
    with pytest.raises(ConfigError, match=r"checks\.smoke\.0\.timout"):
        config.load(write(tmp_path, text))
