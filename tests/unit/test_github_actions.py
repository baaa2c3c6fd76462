"""The runner's file and stdout protocols: masks, job summary, step outputs, annotations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdrill import secrets
from pgdrill.report import actions
from pgdrill.report.actions import (
    ANNOTATION_LIMIT,
    SUMMARY_LIMIT,
    Annotation,
    append_summary,
    capped,
    emit,
    format_output,
    mask_secrets_early,
    write_outputs,
)


@pytest.fixture(autouse=True)
def clean_secrets() -> Iterator[None]:
    secrets.reset_for_tests()
    yield
    secrets.reset_for_tests()


def parse_output_file(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does (name=value, or name<<DELIM … DELIM)."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2:]
            value_lines = []
            while lines[i] != delimiter:
                value_lines.append(lines[i])
                i += 1
            i += 1
            result[name] = "\n".join(value_lines)
        else:
            result[line[:eq]] = line[eq + 1:]
    return result


# -- masking ----------------------------------------------------------------------------------


def test_masking_does_nothing_outside_actions(capsys: pytest.CaptureFixture[str]) -> None:
    mask_secrets_early({"GITHUB_TOKEN": "ghs_abcdefghijklmnop"})
    secrets.register("registered-later-1234")
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_masks_env_secrets_first_and_later_secrets_as_they_come(capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": "ghs_abcdefghijklmnop",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "PGDRILL_DATABASE_URL": "postgresql://app:pa%24%24word-9@db.internal:5432/app",
        "PGDRILL_SCRATCH_URL": "host=scratch user=x password='sp ace-pw!'",
        "PGDRILL_SKIP_TOKEN": "false",  # a flag named like a secret: too short to be one
        "HOME": "/home/runner",
    }
    mask_secrets_early(env)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is pgdrill's data (--json); commands go to the log on stderr
    before = captured.err.splitlines()
    for value in ("ghs_abcdefghijklmnop", "wJalrXUtnFEMI/K7MDENG", "pa$$word-9", "pa%24%24word-9", "sp ace-pw!"):
        assert f"::add-mask::{actions.escape_data(value)}" in before
    assert "::add-mask::false" not in before
    assert not any("/home/runner" in line for line in before)

    secrets.register("late-secret-from-a-key-file")
    secrets.register("-----BEGIN AGE KEY-----\nAGE-SECRET-KEY-1QQQQ\n-----END AGE KEY-----")
    later = capsys.readouterr().err.splitlines()
    assert later[0] == "::add-mask::late-secret-from-a-key-file"
    # multi-line secrets: masked whole (escaped, as one command) and line by line
    assert "::add-mask::-----BEGIN AGE KEY-----%0AAGE-SECRET-KEY-1QQQQ%0A-----END AGE KEY-----" in later
    assert "::add-mask::AGE-SECRET-KEY-1QQQQ" in later
    assert secrets.scrub("url postgresql://app:pa$$word-9@db") == "url postgresql://app:***@db"


# -- job summary ------------------------------------------------------------------------------


def test_summary_is_appended_and_scrubbed(tmp_path: Path) -> None:
    secrets.register("hunter2-password")
    path = tmp_path / "summary.md"
    assert append_summary(path, "### first\nconnecting with hunter2-password") == 0
    assert append_summary(path, "### second") == 0
    text = path.read_text()
    assert text == "### first\nconnecting with ***\n\n### second\n"


def test_summary_is_cut_at_one_mib_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    row = "| orders | 123456 | ✅ |\n"
    report = "### big report\n\n" + row * (2 * SUMMARY_LIMIT // len(row.encode()))
    dropped = append_summary(path, report)
    data = path.read_bytes()
    assert len(data) <= SUMMARY_LIMIT
    assert dropped > SUMMARY_LIMIT // 2
    text = data.decode("utf-8")  # never cut inside a multi-byte character
    assert text.startswith("### big report")
    assert "cut at GitHub's 1 MiB job summary limit" in text
    assert f"({dropped} bytes left out)" in text
    # cut on a line boundary: every table row before the note is whole
    body = text.split("\n\n> [!WARNING]")[0]
    assert body.endswith(row.rstrip("\n"))


def test_summary_cap_counts_what_the_step_already_wrote(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * (SUMMARY_LIMIT - 10_000))
    dropped = append_summary(path, "```\n" + "é" * 20_000)
    data = path.read_bytes()
    assert len(data) <= SUMMARY_LIMIT
    assert dropped > 0
    tail = data.decode("utf-8")[SUMMARY_LIMIT - 10_000:]
    # the open code fence is closed before the note, or the note would render as code
    assert tail.count("```") == 2
    assert tail.rstrip().endswith("The full report is in the job log.")


def test_summary_full_already_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * SUMMARY_LIMIT)
    assert append_summary(path, "more") > 0
    assert path.stat().st_size == SUMMARY_LIMIT


def test_fit_summary_closes_details() -> None:
    text, dropped = actions.fit_summary("<details><summary>s</summary>\n\n" + "line\n" * 5000, 4000)
    assert dropped > 0
    assert text.count("<details") == text.count("</details>") == 1


# -- step outputs -----------------------------------------------------------------------------


def test_outputs_single_and_multi_line(tmp_path: Path) -> None:
    secrets.register("s3cr3t-token-value")
    path = tmp_path / "output"
    path.write_text("earlier=1\n")
    outputs = {
        "backup-id": "20250101T031700123Z-abcdef",
        "passed": "false",
        "report": "line one\nline two with s3cr3t-token-value\n\nEOF\nghadelimiter_fake",
    }
    assert write_outputs(path, outputs) == ["backup-id", "passed", "report"]
    text = path.read_text()
    assert "s3cr3t-token-value" not in text
    parsed = parse_output_file(text)
    assert parsed == {
        "earlier": "1",
        "backup-id": "20250101T031700123Z-abcdef",
        "passed": "false",
        "report": "line one\nline two with ***\n\nEOF\nghadelimiter_fake",
    }
    assert re.search(r"^report<<ghadelimiter_[0-9a-f]{32}$", text, re.MULTILINE)


def test_heredoc_delimiter_is_random_and_never_inside_the_value() -> None:
    first = format_output("r", "a\nb").splitlines()[0]
    second = format_output("r", "a\nb").splitlines()[0]
    assert first != second
    # a value that contains the delimiter it would have got still gets a different one
    entry = format_output("r", "x\n" + first.split("<<")[1])
    assert entry.splitlines()[0] != first


@pytest.mark.parametrize("name", ["", "a=b", "a\nb", "a<<b", " a"])
def test_output_names_that_would_corrupt_the_file_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        format_output(name, "v")


# -- annotations ------------------------------------------------------------------------------


def test_annotations_are_escaped_and_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("pw-0123456789")
    count = emit([Annotation("error", "100% failed:\nsecond line pw-0123456789", "pgdrill drill (prod: eu, 1)")])
    assert count == 1
    assert capsys.readouterr().err == (
        "::error title=pgdrill drill (prod%3A eu%2C 1)::100%25 failed:%0Asecond line ***\n"
    )


def test_annotations_stop_at_github_limit_with_a_summarising_line() -> None:
    failures = [f"check {i} failed" for i in range(25)]
    shown = capped("error", failures, "pgdrill drill", "failed checks")
    assert len(shown) == ANNOTATION_LIMIT
    assert [a.message for a in shown[:9]] == failures[:9]
    assert shown[-1].message.startswith("…and 16 more failed checks (25 in total)")
    exactly = capped("warning", failures[:10], None, "warnings")
    assert [a.message for a in exactly] == failures[:10]


def test_a_huge_annotation_is_shortened() -> None:
    command = Annotation("warning", "x" * 50_000).command()
    assert len(command) < actions.ANNOTATION_MESSAGE_LIMIT + 50
