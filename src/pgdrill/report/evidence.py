"""Pure renderers for the evidence of a period (:mod:`pgdrill.evidence`): Markdown (a compliance
ticket's attachment), a self-contained HTML page (prints as the same document) and JSON.

Each takes a list of :class:`~pgdrill.evidence.Evidence`, one per database, and ends with one
sign-off block: the runbooks' quarterly recovery checklist, filled in with what the drills show
and left blank where a person has to answer. Everything from a store is escaped; a run URL becomes
a link only when it is http(s).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pgdrill import __version__
from pgdrill.drill.measures import TargetRecord
from pgdrill.evidence import Evidence
from pgdrill.overview import StoredDrill
from pgdrill.report.format import ICON, fmt_seconds, fmt_span, fmt_target, human_size, iso, md_escape, when_minute
from pgdrill.report.html import Html, document, el

_SAFE_URL = re.compile(r"^https?://[^\s<>\"'()\\]+$")


def _target(t: TargetRecord) -> str:
    if t.target is None:
        return f"{fmt_seconds(t.measured)}, no target"
    return f"{fmt_seconds(t.measured)}, target {fmt_target(t.target)}: {'met' if t.status == 'pass' else 'MISSED'}"


def _period_line(ev: Evidence) -> str:
    state = "complete" if ev.complete else f"in progress: up to {when_minute(ev.generated_at)}"
    return f"{when_minute(ev.period.start)} to {when_minute(ev.period.end)} ({state})"


def _schedule(ev: Evidence) -> str:
    if not ev.schedule_seconds:
        return "no schedule known (set monitor.schedule, or keep at least four scheduled backups)"
    return f"every {fmt_span(ev.schedule_seconds)} ({'inferred' if ev.schedule_inferred else 'configured'})"


def _summary(ev: Evidence) -> list[tuple[str, str]]:
    n = len(ev.drills)
    rto_met = sum(1 for d in ev.drills if d.record.rto.status == "pass")
    rpo_met = sum(1 for d in ev.drills if d.record.rpo.status == "pass")
    rto_set = sum(1 for d in ev.drills if d.record.rto.status != "none")
    rpo_set = sum(1 for d in ev.drills if d.record.rpo.status != "none")
    pre = sum(1 for b in ev.backups if "pre-deploy" in b.tags)
    missed = sum(g.missed for g in ev.gaps)
    return [
        ("Drills", f"{n}: {len(ev.passed)} passed, {n - len(ev.passed)} failed" if n else "none in this period"),
        ("Targets", f"RTO met in {rto_met} of {rto_set} drill(s) with a target, RPO met in {rpo_met} of {rpo_set}"),
        ("Backups made", f"{len(ev.backups)}" + (f" ({pre} pre-deploy)" if pre else "")),
        ("Failed backup attempts", str(len(ev.failed_attempts))),
        ("Schedule", _schedule(ev)),
        ("Schedule gaps", f"{len(ev.gaps)} ({missed} missed run(s))" if ev.gaps else "none"),
        ("Retention", f"{ev.policy_text}; {len(ev.retained)} backup(s) retained now"),
    ]


def _drill_facts(d: StoredDrill) -> list[tuple[str, str]]:
    r = d.record
    facts = [
        ("Verdict", "passed" if r.passed else "FAILED: " + "; ".join(r.failures)),
        ("Started", when_minute(r.started_at)), ("Finished", when_minute(r.finished_at)),
        ("Environment", r.environment or "default"),
        ("Source", r.source_kind + (f" ({r.restore_tool})" if r.restore_tool else "")),
        ("Restored", r.backup_id),
        ("Backup sha256", r.backup_sha256 or "none (not a stored backup)"),
        ("Backup created", when_minute(r.backup_created_at)),
    ]
    if r.point_in_time is not None:
        facts.append(("Point in time", when_minute(r.point_in_time)))
    facts += [
        ("Restored into", f"{r.target_kind} {r.scratch_database or r.target}".strip()),
        ("RTO", _target(r.rto)), ("RPO", _target(r.rpo)),
        ("Owners", ", ".join(r.owners) or "none recorded (drill.owners in pgdrill.yml)"),
        ("Run", r.run_url or "not run from CI"),
        ("Commit", f"{r.git_sha} ({r.git_ref})" if r.git_sha and r.git_ref else r.git_sha or "—"),
        ("Record", f"{d.key}, sha256 {d.sha256}"),
    ]
    return facts


def _pitr(ev: Evidence) -> StoredDrill | None:
    found = [d for d in ev.drills if d.record.point_in_time is not None]
    return found[-1] if found else None


def _restore(ev: Evidence) -> StoredDrill | None:
    found = [d for d in ev.drills if d.record.point_in_time is None]
    return found[-1] if found else None


def _test_line(d: StoredDrill | None, what: str) -> str:
    if d is None:
        return f"no {what} drill in this period: _______"
    r = d.record
    used = f"instant {when_minute(r.point_in_time)}" if r.point_in_time else f"backup {r.backup_id}"
    return f"drill {r.id}: {used}, duration {fmt_seconds(r.rto.measured)}, result {'PASS' if r.passed else 'FAIL'}"


def checklist(items: Sequence[Evidence]) -> list[tuple[str, str]]:
    """The runbooks' quarterly checklist: (item, what the evidence shows or a blank to fill in)."""
    out: list[tuple[str, str]] = []
    for ev in items:
        prefix = f"{ev.name}: " if len(items) > 1 else ""
        out.append((f"{prefix}Point-in-time recovery tested", _test_line(_pitr(ev), "point-in-time")))
        out.append((f"{prefix}Backup restoration tested", _test_line(_restore(ev), "backup restoration")))
    targets = sorted({f"RTO {fmt_target(d.record.rto.target)}, RPO {fmt_target(d.record.rpo.target)}"
                      for ev in items for d in ev.drills})
    policies = sorted({ev.policy_text for ev in items})
    out += [
        ("Disaster recovery (a new database) tested", "provider: _______ duration: _______ result: PASS / FAIL"),
        ("RTO/RPO objectives reviewed", "targets in the drills: " + ("; ".join(targets) or "none")),
        ("Retention policy reviewed", "; ".join(policies)),
        ("Contact list updated", "_______"),
        ("Backup security audited (encryption, access)", "_______"),
    ]
    return out


SIGN_OFF_FIELDS = ("Responsible", "Date", "Sign-off")


# -- Markdown ------------------------------------------------------------------------------------
def _md_url(url: str | None) -> str:
    if not url:
        return "not run from CI"
    return f"[{md_escape(url)}]({url})" if _SAFE_URL.match(url) else md_escape(url)


def _md_table(rows: Sequence[tuple[str, str]]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {md_escape(k)} | {md_escape(v)} |" for k, v in rows)]


def _md_drill(d: StoredDrill, level: str) -> list[str]:
    r = d.record
    rows = [(k, md_escape(v)) if k != "Run" else (k, _md_url(v)) for k, v in _drill_facts(d)]
    lines = [f"{level} {ICON['pass' if r.passed else 'fail']} Drill {md_escape(r.id)}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "| | Check | Result |", "|:-:|---|---|"]
    lines += [f"| {ICON[c.status]} | {md_escape(c.name)} | {md_escape(c.detail)} |" for c in r.checks]
    return [*lines, ""]


def _md_one(ev: Evidence, multi: bool) -> list[str]:
    """One database's part; its sections are ## (### when several databases share the document)."""
    h = "###" if multi else "##"
    out = [f"## {md_escape(ev.name)}", ""] if multi else []
    out += [f"Store `{md_escape(ev.store)}`.", "", *_md_table(_summary(ev)), "", f"{h} Drills ({len(ev.drills)})", ""]
    if not ev.drills:
        out += ["No drill started in this period.", ""]
    for d in ev.drills:
        out += _md_drill(d, h + "#")
    out += [f"{h} Backups retained by the policy ({len(ev.retained)})", "", f"Policy: {md_escape(ev.policy_text)}.",
            ""]
    if ev.retained:
        out += ["| Backup | Created | Size | sha256 | Tags | Kept because |", "|---|---|--:|---|---|---|"]
        out += [f"| `{md_escape(d.backup.id)}` | {when_minute(d.backup.created_at)} | {human_size(d.backup.size)} | "
                f"`{md_escape(d.backup.sha256)}` | {md_escape(', '.join(d.backup.tags))} | "
                f"{md_escape('; '.join(d.reasons))} |" for d in ev.retained]
        out.append("")
    out += [f"{h} Gaps", "", f"Schedule: {md_escape(_schedule(ev))}.", ""]
    if ev.gaps:
        out += ["| From | To | Missed runs |", "|---|---|--:|"]
        out += [f"| {when_minute(g.start)} | {_gap_end(ev, g.end, g.open)} | {g.missed} |" for g in ev.gaps]
    else:
        out.append("No schedule gap in this period.")
    out += ["", f"Failed backup attempts: {len(ev.failed_attempts)}.", ""]
    if ev.failed_attempts:
        out += ["| Attempt | Started | Error |", "|---|---|---|"]
        out += [f"| `{md_escape(a.id)}` | {when_minute(a.started_at)} | {md_escape(a.error or 'no error recorded')} |"
                for a in ev.failed_attempts]
        out.append("")
    if ev.problems:
        out += ["Unreadable objects in the store (left out above):", "",
                *[f"- {md_escape(p)}" for p in ev.problems], ""]
    return out


def _gap_end(ev: Evidence, end: datetime, still_open: bool) -> str:
    if not still_open:
        return when_minute(end)
    return "the end of the period" if ev.complete else "now (still open)"


def _title(items: Sequence[Evidence]) -> str:
    names = items[0].name if len(items) == 1 else f"{len(items)} databases"
    return f"Backup and restore evidence: {names}, {items[0].period.label}"


def render_markdown(items: Sequence[Evidence]) -> str:
    first = items[0]
    out = [f"# {md_escape(_title(items))}", "",
           f"Period {_period_line(first)}. Generated {when_minute(first.generated_at)} by pgdrill {__version__} "
           "from the store alone: manifests, failed attempts and drill records (each named by the sha256 of its "
           "bytes as stored).", ""]
    for ev in items:
        out += _md_one(ev, len(items) > 1)
    out += ["## Sign-off", "", "Quarterly recovery checklist (runbook): tick what was reviewed, fill in the blanks.",
            ""]
    out += [f"- [ ] **{md_escape(item)}** — {md_escape(shown)}" for item, shown in checklist(items)]
    out += ["", "Notes: _______", "", "| " + " | ".join(SIGN_OFF_FIELDS) + " |",
            "|" + "---|" * len(SIGN_OFF_FIELDS), "|" + "   |" * len(SIGN_OFF_FIELDS), ""]
    return "\n".join(out)


# -- HTML ----------------------------------------------------------------------------------------
def _link(url: str | None) -> Html:
    if not url:
        return el("span", "not run from CI")
    return el("a", url, href=url) if _SAFE_URL.match(url) else el("span", url)


def _facts_table(rows: Sequence[tuple[str, Html | str]], **attrs: object) -> Html:
    return el("table", el("tbody", [el("tr", el("th", k, scope="row"), el("td", v)) for k, v in rows]),
              class_="facts", **attrs)


def _html_drill(d: StoredDrill) -> Html:
    r = d.record
    facts: list[tuple[str, Html | str]] = [(k, _link(r.run_url) if k == "Run" else el("code", v)
                                            if k in ("Restored", "Backup sha256", "Record") else v)
                                           for k, v in _drill_facts(d)]
    checks = el("table", el("thead", el("tr", el("th", ""), el("th", "Check"), el("th", "Result"))),
                el("tbody", [el("tr", el("td", c.status.upper(), class_=c.status), el("td", c.name),
                                el("td", c.detail), data_check=c.name) for c in r.checks]), class_="checks")
    return el("article", el("h3", el("span", "PASSED" if r.passed else "FAILED",
                                     class_=f"badge {'pass' if r.passed else 'fail'}"), f" Drill {r.id}"),
              _facts_table(facts), checks, class_="drill", data_drill=r.id, data_record_sha256=d.sha256)


def _html_one(ev: Evidence, multi: bool) -> Html:
    parts: list[Html | None] = []
    if multi:
        parts.append(el("h2", ev.name))
    parts += [el("p", "Store ", el("code", ev.store), "."), _facts_table(list(_summary(ev)), id=None)]
    parts.append(el("h2" if not multi else "h3", f"Drills ({len(ev.drills)})"))
    parts += [_html_drill(d) for d in ev.drills] or [el("p", "No drill started in this period.")]
    parts.append(el("h2" if not multi else "h3", f"Backups retained by the policy ({len(ev.retained)})"))
    parts.append(el("p", f"Policy: {ev.policy_text}."))
    if ev.retained:
        head = el("tr", el("th", "Backup"), el("th", "Created"), el("th", "Size", class_="num"), el("th", "sha256"),
                  el("th", "Tags"), el("th", "Kept because"))
        parts.append(el("table", el("thead", head), el("tbody", [
            el("tr", el("td", el("code", d.backup.id)), el("td", when_minute(d.backup.created_at)),
               el("td", human_size(d.backup.size), class_="num"), el("td", el("code", d.backup.sha256)),
               el("td", ", ".join(d.backup.tags)), el("td", "; ".join(d.reasons)), data_backup=d.backup.id)
            for d in ev.retained]), class_="retained"))
    parts.append(el("h2" if not multi else "h3", "Gaps"))
    parts.append(el("p", f"Schedule: {_schedule(ev)}."))
    if ev.gaps:
        parts.append(el("table", el("thead", el("tr", el("th", "From"), el("th", "To"),
                                                el("th", "Missed runs", class_="num"))),
                        el("tbody", [el("tr", el("td", when_minute(g.start)), el("td", _gap_end(ev, g.end, g.open)),
                                        el("td", str(g.missed), class_="num")) for g in ev.gaps]), class_="gaps"))
    else:
        parts.append(el("p", "No schedule gap in this period."))
    parts.append(el("p", f"Failed backup attempts: {len(ev.failed_attempts)}."))
    if ev.failed_attempts:
        parts.append(el("table", el("thead", el("tr", el("th", "Attempt"), el("th", "Started"), el("th", "Error"))),
                        el("tbody", [el("tr", el("td", el("code", a.id)), el("td", when_minute(a.started_at)),
                                        el("td", a.error or "no error recorded")) for a in ev.failed_attempts]),
                        class_="attempts"))
    if ev.problems:
        parts += [el("p", "Unreadable objects in the store (left out above):"),
                  el("ul", [el("li", p) for p in ev.problems])]
    return el("section", parts, class_="database", data_database=ev.name)


def render_html(items: Sequence[Evidence]) -> str:
    first = items[0]
    header = el("header", el("h1", _title(items)),
                el("p", f"Period {_period_line(first)}. Generated {when_minute(first.generated_at)} by pgdrill "
                        f"{__version__} from the store alone: manifests, failed attempts and drill records (each "
                        "named by the sha256 of its bytes as stored).", class_="meta"))
    sign = el("section",
              el("h2", "Sign-off"),
              el("p", "Quarterly recovery checklist (runbook): tick what was reviewed, fill in the blanks."),
              el("ul", [el("li", el("strong", item), f" — {shown}") for item, shown in checklist(items)],
                 class_="checklist"),
              el("p", "Notes: _______"),
              el("table", el("thead", el("tr", [el("th", f) for f in SIGN_OFF_FIELDS])),
                 el("tbody", el("tr", [el("td", "") for _ in SIGN_OFF_FIELDS])), class_="signoff"),
              id="sign-off")
    main = el("main", [_html_one(ev, len(items) > 1) for ev in items], sign)
    return document(_title(items), Html(header + main))


# -- JSON ------------------------------------------------------------------------------------------
def _json_one(ev: Evidence) -> dict[str, Any]:
    return {
        "name": ev.name, "store": ev.store,
        "summary": dict(_summary(ev)),
        "drills": [{**d.record.model_dump(mode="json"), "record_key": d.key, "record_sha256": d.sha256}
                   for d in ev.drills],
        "backups_made": [b.id for b in ev.backups],
        "retention": {"policy": ev.policy_text, "retained": [
            {"id": d.backup.id, "created_at": iso(d.backup.created_at), "size": d.backup.size,
             "sha256": d.backup.sha256, "tags": list(d.backup.tags), "reasons": list(d.reasons)}
            for d in ev.retained]},
        "schedule": {"interval_seconds": ev.schedule_seconds, "inferred": ev.schedule_inferred,
                     "gaps": [{"from": iso(g.start), "to": None if g.open else iso(g.end), "open": g.open,
                               "seconds": g.seconds, "missed_runs": g.missed} for g in ev.gaps]},
        "failed_attempts": [{"id": a.id, "started_at": iso(a.started_at), "error": a.error}
                            for a in ev.failed_attempts],
        "problems": list(ev.problems),
    }


def render_json(items: Sequence[Evidence]) -> dict[str, Any]:
    first = items[0]
    return {
        "period": {"label": first.period.label, "start": iso(first.period.start), "end": iso(first.period.end),
                   "complete": first.complete},
        "generated_at": iso(first.generated_at), "pgdrill_version": __version__,
        "databases": [_json_one(ev) for ev in items],
        "sign_off": {"checklist": [{"item": i, "evidence": s, "done": None} for i, s in checklist(items)],
                     **{f.lower().replace("-", "_"): None for f in SIGN_OFF_FIELDS}},
    }
