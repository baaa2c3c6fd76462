"""The dashboard: a static site drawn from (database name, store view) pairs — pure.

One database: ``index.html`` is its page. Several (a fleet): ``index.html`` is one table with a row per
database, and each database has a page of its own. A database's page shows: health and open alerts
(monitor's evaluation with the configured thresholds), backup size, duration and rows over time, each
drill's RTO and RPO against its targets, a calendar of drills with their verdicts, what retention keeps
and why, and the point-in-time window where drills recorded one.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from pgdrill import __version__
from pgdrill.drill.measures import TargetRecord
from pgdrill.fleet.status import DatabaseStatus
from pgdrill.overview import StoredDrill, StoreView
from pgdrill.report.format import fmt_age, fmt_seconds, fmt_span, fmt_target, human_size, iso, utc, when_minute
from pgdrill.report.html import Bar, Html, Point, bar_chart, document, el, time_chart

#: rows shown in the long tables (the charts show everything)
TABLE_ROWS = 20
BACKUP_ROWS = 14
RETENTION_ROWS = 200
CALENDAR_MONTHS = 12


def _count(n: int) -> str:
    return f"{n:,}"


def _verdict(passed: bool) -> Html:
    return el("span", "passed" if passed else "FAILED", class_=f"badge {'pass' if passed else 'fail'}")


def _vs(t: TargetRecord) -> Html:
    word = {"pass": "met", "fail": "missed", "none": "no target"}[t.status]
    target = f" of {fmt_target(t.target)}" if t.target is not None else ""
    return el("span", f"{fmt_seconds(t.measured)}", el("span", f" {word}{target}", class_={"pass": "met",
              "fail": "missed", "none": "none"}[t.status]), data_seconds=f"{t.measured:g}")


def _short(text: str, n: int = 12) -> str:
    return text if len(text) <= n else text[:n] + "…"


# -- sections --------------------------------------------------------------------------------------
def _tiles(view: StoreView) -> Html:
    h = view.health
    last = h.last_backup
    drill = view.drills[-1].record if view.drills else None
    newest = "none"
    if last is not None and h.backup_age_seconds is not None:
        newest = f"{fmt_age(h.backup_age_seconds)} ago, {human_size(last.size)}"
    last_drill = "none recorded"
    if drill is not None:
        age = max(0.0, (view.read_at - drill.finished_at).total_seconds())
        last_drill = f"{'passed' if drill.passed else 'FAILED'} {fmt_age(age)} ago"
    tiles = [
        ("Newest backup", newest, "newest-backup"),
        ("Backups", _count(len(view.backups)), "backup-count"),
        ("Last drill", last_drill, "last-drill"),
        ("Open alerts", _count(len(h.alerts)), "alert-count"),
    ]
    return el("dl", [el("div", el("dt", k), el("dd", v, id=key), class_="tile") for k, v, key in tiles],
              class_="tiles")


def _alerts(view: StoreView) -> Html:
    h = view.health
    th = h.thresholds.summary()
    limits = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in th.items() if v is not None)
    if not h.alerts:
        body: list[Html] = [el("p", "No alert: monitor finds the backups healthy.", class_="healthy")]
    else:
        rows = [el("tr", el("td", a.severity, class_=a.severity), el("td", el("strong", a.name)), el("td", a.message),
                   data_alert=a.name) for a in h.alerts]
        body = [el("table", el("thead", el("tr", el("th", "Severity"), el("th", "Alert"), el("th", "Detail"))),
                   el("tbody", rows), id="alerts-table")]
    body.append(el("p", f"Thresholds: {limits}.", class_="muted"))
    return el("section", el("h2", f"Open alerts ({len(h.alerts)})"), body, id="alerts")


def _backup_point(view: StoreView, value: float, shown: str, b_id: str, at: datetime) -> Point:
    return Point(at, value, f"{when_minute(at)}: {shown} (backup {b_id})", b_id)


def _backups(view: StoreView) -> Html:
    bs = view.backups
    if not bs:
        return el("section", el("h2", "Backups"), el("p", "The store holds no complete backup.", class_="empty"),
                  id="backups")
    size = [_backup_point(view, b.size, human_size(b.size), b.id, b.created_at) for b in bs]
    duration = [_backup_point(view, b.duration_seconds, fmt_seconds(b.duration_seconds), b.id, b.created_at)
                for b in bs]
    rows = [_backup_point(view, b.total_rows, f"{_count(b.total_rows)} rows", b.id, b.created_at) for b in bs]
    charts = el("div",
                el("figure", time_chart(size, chart_id="chart-size", title="Backup size (stored)", fmt=human_size),
                   el("figcaption", "Stored size of each backup.")),
                el("figure", time_chart(duration, chart_id="chart-duration", title="Backup duration",
                                        fmt=fmt_seconds),
                   el("figcaption", "How long each backup took, dump to stored manifest.")),
                el("figure", time_chart(rows, chart_id="chart-rows", title="Rows per backup",
                                        fmt=lambda v: _count(round(v))),
                   el("figcaption", "Exact rows in each backup, counted in the dump's snapshot.")),
                class_="charts")
    shown = list(reversed(bs))[:BACKUP_ROWS]
    head = el("tr", el("th", "Backup"), el("th", "Created"), el("th", "Size", class_="num"),
              el("th", "Duration", class_="num"), el("th", "Tables", class_="num"), el("th", "Rows", class_="num"),
              el("th", "Tags"))
    body = [el("tr", el("td", el("code", b.id)), el("td", when_minute(b.created_at)),
               el("td", human_size(b.size), class_="num", data_bytes=str(b.size)),
               el("td", fmt_seconds(b.duration_seconds), class_="num", data_seconds=f"{b.duration_seconds:g}"),
               el("td", _count(len(b.tables)), class_="num"),
               el("td", _count(b.total_rows), class_="num", data_rows=str(b.total_rows)),
               el("td", ", ".join(b.tags) + (" (encrypted)" if b.encrypted else "")),
               data_backup=b.id) for b in shown]
    more = (el("p", f"The newest {len(shown)} of {len(bs)} backups.", class_="muted")
            if len(bs) > len(shown) else None)
    return el("section", el("h2", f"Backups ({_count(len(bs))})"), charts,
              el("table", el("thead", head), el("tbody", body), id="backups-table"), more, id="backups")


def _bar(d: StoredDrill, t: TargetRecord, what: str) -> Bar:
    r = d.record
    word = {"pass": "met", "fail": "missed", "none": "no target"}[t.status]
    target = f", target {fmt_target(t.target)}: {word}" if t.target is not None else ", no target"
    return Bar(f"{r.started_at:%m-%d}", t.measured, t.target, t.status,
               f"{when_minute(r.started_at)}: {what} {fmt_seconds(t.measured)}{target} (drill {r.id})", r.id)


def _checks_summary(d: StoredDrill) -> str:
    checks = d.record.checks
    failed = sum(1 for c in checks if c.status == "fail")
    return f"{len(checks)} run, {failed} failed" if failed else f"{len(checks)} run, all passed"


def _drills(view: StoreView) -> Html:
    ds = view.drills
    if not ds:
        return el("section", el("h2", "Drills"),
                  el("p", "No drill recorded in this store: nothing proves these backups restore.", class_="empty"),
                  id="drills")
    charts = el("div",
                el("figure", bar_chart([_bar(d, d.record.rto, "RTO") for d in ds], chart_id="chart-rto",
                                       title="RTO per drill", fmt=fmt_seconds),
                   el("figcaption", "Time to a checked copy (fetch + restore + checks); the dashed tick is the "
                                    "drill's RTO target.")),
                el("figure", bar_chart([_bar(d, d.record.rpo, "RPO") for d in ds], chart_id="chart-rpo",
                                       title="RPO per drill", fmt=fmt_seconds),
                   el("figcaption", "Data a disaster could have lost; the dashed tick is the RPO target.")),
                class_="charts")
    shown = list(reversed(ds))[:TABLE_ROWS]
    head = el("tr", el("th", "Started"), el("th", "Verdict"), el("th", "RTO"), el("th", "RPO"), el("th", "Checks"),
              el("th", "Restored"), el("th", "Record sha256"))
    body = [el("tr", el("td", when_minute(d.record.started_at)), el("td", _verdict(d.record.passed)),
               el("td", _vs(d.record.rto), class_="rto"), el("td", _vs(d.record.rpo), class_="rpo"),
               el("td", _checks_summary(d)),
               el("td", el("code", d.record.backup_id), el("span", f" ({d.record.source_kind})", class_="muted")),
               el("td", el("code", _short(d.sha256, 16), title=d.sha256)),
               data_drill=d.record.id, data_passed=str(d.record.passed).lower()) for d in shown]
    more = (el("p", f"The newest {len(shown)} of {len(ds)} drills.", class_="muted")
            if len(ds) > len(shown) else None)
    return el("section", el("h2", f"Drills ({_count(len(ds))})"), charts,
              el("table", el("thead", head), el("tbody", body), id="drills-table"), more, id="drills")


def _months(first: date, last: date) -> list[tuple[int, int]]:
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out[-CALENDAR_MONTHS:]


def _calendar(view: StoreView) -> Html:
    if not view.drills:
        return el("section", el("h2", "Drill calendar"), el("p", "No drill recorded yet.", class_="empty"),
                  id="calendar")
    by_day: dict[date, list[StoredDrill]] = defaultdict(list)
    for d in view.drills:
        by_day[utc(d.record.started_at).date()].append(d)
    months = []
    for y, m in _months(min(by_day), utc(view.read_at).date()):
        weeks = []
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(y, m):
            cells = []
            for day in week:
                if day.month != m:
                    cells.append(el("td", "", class_="out"))
                    continue
                drills = by_day.get(day, [])
                if not drills:
                    cells.append(el("td", str(day.day)))
                    continue
                ok = all(d.record.passed for d in drills)
                title = "; ".join(f"drill {d.record.id} {'passed' if d.record.passed else 'FAILED'}, RTO "
                                  f"{fmt_seconds(d.record.rto.measured)}" for d in drills)
                cells.append(el("td", f"{day.day} {'✓' if ok else '✗'}", class_="pass" if ok else "fail",
                                title=title, data_date=day.isoformat(), data_verdict="pass" if ok else "fail",
                                data_drills=str(len(drills))))
            weeks.append(el("tr", cells))
        head = el("tr", [el("th", d, scope="col") for d in ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")])
        months.append(el("table", el("caption", f"{calendar.month_name[m]} {y}"), el("thead", head),
                         el("tbody", weeks), class_="month"))
    passed = sum(1 for d in view.drills if d.record.passed)
    note = el("p", f"{len(view.drills)} drill(s), {passed} passed, {len(view.drills) - passed} failed; ✓ every drill "
                   "of the day passed, ✗ one failed (UTC days).", class_="muted")
    return el("section", el("h2", "Drill calendar"), note, el("div", months, class_="months"), id="calendar")


def _retention(view: StoreView) -> Html:
    decisions = list(reversed(view.retention))
    kept = sum(1 for d in decisions if d.keep)
    intro = el("p", f"Policy (pgdrill.yml retention:): {view.policy.describe()}. Now it keeps {kept} and would "
                    f"remove {len(decisions) - kept} of {len(decisions)} backup(s); the newest is always kept.")
    if not decisions:
        return el("section", el("h2", "Retention"), intro, id="retention")
    shown = decisions[:RETENTION_ROWS]
    head = el("tr", el("th", "Backup"), el("th", "Created"), el("th", "Size", class_="num"), el("th", "Tags"),
              el("th", "Decision"), el("th", "Why"))
    body = [el("tr", el("td", el("code", d.backup.id)), el("td", when_minute(d.backup.created_at)),
               el("td", human_size(d.backup.size), class_="num"), el("td", ", ".join(d.backup.tags)),
               el("td", d.action, class_=d.action), el("td", "; ".join(d.reasons)),
               data_backup=d.backup.id, data_action=d.action) for d in shown]
    more = (el("p", f"The newest {len(shown)} of {len(decisions)} backups.", class_="muted")
            if len(decisions) > len(shown) else None)
    return el("section", el("h2", "Retention"), intro,
              el("table", el("thead", head), el("tbody", body), id="retention-table"), more, id="retention")


def _window(view: StoreView) -> Html | None:
    windows = view.windows
    if not windows:
        return None
    latest = windows[-1]
    lead = el("p", f"At the last point-in-time drill ({when_minute(latest.observed_at)}, {latest.source_kind}) any "
                   f"instant from {when_minute(latest.earliest)} on could be restored: a window of "
                   f"{fmt_span(round(latest.seconds))}.", id="window-latest", data_seconds=f"{latest.seconds:g}")
    head = el("tr", el("th", "Drill"), el("th", "Source"), el("th", "Earliest instant"), el("th", "Restored instant"),
              el("th", "Window", class_="num"))
    rows = [el("tr", el("td", el("code", w.drill_id)), el("td", w.source_kind), el("td", when_minute(w.earliest)),
               el("td", when_minute(w.restored) if w.restored else "—"),
               el("td", fmt_span(round(w.seconds)) if w.seconds >= 1 else "0s", class_="num"),
               data_drill=w.drill_id) for w in reversed(windows[-TABLE_ROWS:])]
    return el("section", el("h2", "Point-in-time window"), lead,
              el("table", el("thead", head), el("tbody", rows), id="window-table"), id="window")


def _problems(view: StoreView) -> Html | None:
    if not view.problems:
        return None
    return el("section", el("h2", f"Problems ({len(view.problems)})"),
              el("p", "Objects in the store that could not be read; they are left out above.", class_="muted"),
              el("ul", [el("li", p) for p in view.problems]), id="problems")


def _nav(view: StoreView, back: bool) -> Html:
    links = [("alerts", "Alerts"), ("drills", "Drills"), ("calendar", "Calendar"), ("backups", "Backups"),
             ("retention", "Retention")]
    if view.windows:
        links.append(("window", "Point-in-time window"))
    if view.problems:
        links.append(("problems", "Problems"))
    items = [el("li", el("a", "All databases", href="index.html"))] if back else []
    items += [el("li", el("a", label, href=f"#{anchor}")) for anchor, label in links]
    return el("nav", el("ul", items), aria_label="Sections")


def _footer(at: datetime) -> Html:
    return el("footer", el("p", f"Generated by pgdrill {__version__} at {when_minute(at)} from the store alone: "
                                "manifests, failed attempts and drill records."))


def database_page(name: str, view: StoreView, *, back: bool = False) -> str:
    h = view.health
    status = el("span", "healthy" if h.healthy else f"{len(h.alerts)} alert(s)",
                class_=f"badge {'healthy' if h.healthy else 'unhealthy'}", id="status")
    header = el("header", el("h1", f"Backups of {name}"),
                el("p", "Store ", el("code", view.store), f", read {when_minute(view.read_at)} ", status,
                   class_="meta", data_read_at=iso(view.read_at)),
                _nav(view, back))
    main = el("main", _tiles(view), _alerts(view), _drills(view), _calendar(view), _backups(view), _retention(view),
              _window(view), _problems(view))
    return document(f"pgdrill: backups of {name}", Html(header + main + _footer(view.read_at)))


# -- a fleet -----------------------------------------------------------------------------------------
def slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "database"
    out, n = base, 2
    while out in taken or out == "index":
        out, n = f"{base}-{n}", n + 1
    taken.add(out)
    return out


def fleet_page(entries: Sequence[tuple[str, str, StoreView]], at: datetime,
               unreadable: Sequence[DatabaseStatus] = ()) -> str:
    """``entries``: (name, page file, view); ``unreadable``: databases whose store could not be read,
    listed with the reason (a broken store must not vanish from the page)."""
    head = el("tr", el("th", "Database"), el("th", "Status"), el("th", "Newest backup"), el("th", "Size", class_="num"),
              el("th", "Last drill"), el("th", "RTO"), el("th", "RPO"), el("th", "Open alerts"))
    rows = []
    for name, page, view in entries:
        h = view.health
        last = h.last_backup
        drill = view.drills[-1].record if view.drills else None
        rows.append(el(
            "tr", el("td", el("a", name, href=page)),
            el("td", "healthy" if h.healthy else "unhealthy", class_="healthy" if h.healthy else "unhealthy"),
            el("td", f"{fmt_age(h.backup_age_seconds)} ago" if h.backup_age_seconds is not None else "none"),
            el("td", human_size(last.size) if last else "—", class_="num"),
            el("td", _verdict(drill.passed) if drill else "none"),
            el("td", _vs(drill.rto) if drill else "—"), el("td", _vs(drill.rpo) if drill else "—"),
            el("td", ", ".join(a.name for a in h.alerts) or "none"), data_database=name))
    for st in unreadable:
        rows.append(el("tr", el("td", st.name), el("td", "unreadable", class_="unhealthy"),
                       el("td", f"store unreadable: {st.error}", colspan="6"), data_database=st.name))
    unhealthy = sum(1 for _, _, v in entries if not v.health.healthy) + len(unreadable)
    total = len(entries) + len(unreadable)
    header = el("header", el("h1", f"Backups of {total} databases"),
                el("p", f"{unhealthy} with open alerts; read {when_minute(at)}.", class_="meta"))
    main = el("main", el("section", el("h2", "Databases"),
                         el("table", el("thead", head), el("tbody", rows), id="fleet-table"), id="fleet"))
    return document("pgdrill: backups", Html(header + main + _footer(at)))


def render_site(databases: Sequence[tuple[str, StoreView]],
                unreadable: Sequence[DatabaseStatus] = ()) -> dict[str, str]:
    """File name → page. One database: ``index.html``; several (or any unreadable): an index and a
    page each."""
    if not databases:
        raise ValueError("a dashboard needs at least one database")
    if len(databases) == 1 and not unreadable:
        name, view = databases[0]
        return {"index.html": database_page(name, view)}
    taken: set[str] = set()
    entries = [(name, f"{slug(name, taken)}.html", view) for name, view in databases]
    files = {page: database_page(name, view, back=True) for name, page, view in entries}
    files["index.html"] = fleet_page(entries, max(v.read_at for _, v in databases), unreadable)
    return files
