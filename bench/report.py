"""Ratios against the targets, and the tables printed at the end of a run."""

from __future__ import annotations

from typing import Any

from bench.measure import Summary

# (name, pgdrill case, bare case, target ratio or None). "SAME" is the bare dump with pgdrill's
# compression (dump_file_same) when pgdrill's default differs from pg_dump's, else dump_file.
TIME_RATIOS = [
    ("backup -> local store vs pg_dump -Fc -f", "backup_local", "SAME", 1.10),
    ("backup -> local store, age vs pg_dump -Fc -f", "backup_local_age", "SAME", 1.10),
    ("backup -> S3 vs pg_dump | boto3 upload", "backup_s3", "dump_s3", 1.00),
    ("drill (default: --jobs auto) vs pg_restore (1 job)", "drill", "restore_bare", 1.15),
    ("restore vs pg_restore", "restore", "restore_bare", None),
    ("as shipped: backup (pgdrill default) vs pg_dump -Fc (gzip)", "backup_local", "dump_file", None),
    ("restore --no-verify vs pg_restore", "restore_noverify", "restore_bare", None),
    ("restore from S3 vs pg_restore of a local file", "restore_s3", "restore_bare", None),
    ("restore --no-verify from S3 vs pg_restore of a local file", "restore_s3_noverify", "restore_bare", None),
    ("pg_dump -Fc -f + sync vs without", "dump_file_fsync", "SAME", None),
    ("pg_dump -Fd -j2 vs -Fc", "dump_dir_j2", "SAME", None),
    ("pg_restore -j2 vs pg_restore", "restore_bare_j2", "restore_bare", None),
    ("drill --jobs 2 vs pg_restore -j2", "drill_j2", "restore_bare_j2", None),
    ("drill --jobs 2 vs pg_restore (RTO gain)", "drill_j2", "restore_bare", None),
    ("pg_restore --single-transaction vs plain", "restore_bare_1tx", "restore_bare", None),
    *((f"pg_dump --compress={z} vs default (gzip)", f"dump_file_{z.replace(':', '')}", "dump_file", None)
      for z in ("0", "1", "zstd:1", "zstd", "lz4")),
]
MEMORY_CASES = ["backup_local", "backup_local_age", "backup_s3", "restore", "restore_noverify", "drill"]
RSS_LIMIT_MB = 150
RSS_GROWTH = 1.10
COUNTS_SHARE = 0.02


def _secs(record: dict[str, Any], key: str) -> list[float] | None:
    case = record["cases"].get(key)
    return [s["seconds"] for s in case["samples"]] if case else None


def _peak_self_mb(record: dict[str, Any], key: str) -> float | None:
    case = record["cases"].get(key)
    if not case:
        return None
    values = [s["self_maxrss_kb"] for s in case["samples"] if s.get("self_maxrss_kb")]
    return max(values) / 1024 if values else None


def _cpu(record: dict[str, Any], key: str) -> list[float] | None:
    case = record["cases"].get(key)
    return [s["cpu_s"] + s["server_cpu_s"] for s in case["samples"]] if case else None


def ratios(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Time ratios are the median of per-repetition ratios: each repetition's pgdrill run against the
    bare run of the same repetition, which ran minutes apart at most (load drifts cancel out)."""
    out: list[dict[str, Any]] = []
    same = "dump_file_same" if "main:dump_file_same" in record["cases"] else "dump_file"
    for name, mine, bare, target in TIME_RATIOS:
        bare = same if bare == "SAME" else bare
        a, b = _secs(record, f"main:{mine}"), _secs(record, f"main:{bare}")
        if not a or not b or mine == bare:
            continue
        paired = [x / y for x, y in zip(a, b, strict=False)]
        ratio = Summary.of(paired).median
        ca, cb = _cpu(record, f"main:{mine}"), _cpu(record, f"main:{bare}")
        cpu = Summary.of([x / y for x, y in zip(ca or [], cb or [], strict=False) if y]).median if ca and cb else None
        out.append({"name": name, "kind": "time", "value": round(ratio, 3),
                    "of_medians": round(Summary.of(a).median / Summary.of(b).median, 3),
                    "paired_low": round(min(paired), 3), "paired_high": round(max(paired), 3),
                    "cpu": round(cpu, 3) if cpu else None,
                    "target": target, "ok": None if target is None else ratio <= target})
    with_counts, without, dump = (_secs(record, f"main:{k}") for k in
                                  ("backup_local", "backup_local_nocounts", same))
    if with_counts and without and dump:
        dump_median = Summary.of(dump).median
        paired = [(x - y) / dump_median for x, y in zip(with_counts, without, strict=False)]
        share = Summary.of(paired).median
        out.append({"name": "row counts: backup with - without, share of dump time", "kind": "share",
                    "value": round(share, 4), "paired_low": round(min(paired), 4),
                    "paired_high": round(max(paired), 4), "target": COUNTS_SHARE, "ok": share <= COUNTS_SHARE})
        alone = record.get("row_counts_alone_seconds")
        if alone is not None:
            out.append({"name": "row counts run alone, share of dump time", "kind": "share",
                        "value": round(alone / dump_median, 4), "paired_low": None, "paired_high": None,
                        "target": None, "ok": None})
    peaks = {k: _peak_self_mb(record, f"main:{k}") for k in MEMORY_CASES}
    for case, mb in peaks.items():
        if mb is None:
            continue
        out.append({"name": f"peak RSS of pgdrill, {case} (MB)", "kind": "rss_mb", "value": round(mb, 1),
                    "paired_low": None, "paired_high": None, "target": RSS_LIMIT_MB, "ok": mb <= RSS_LIMIT_MB})
        small = _peak_self_mb(record, f"small:{case}")
        if small:
            growth = mb / small
            out.append({"name": f"peak RSS {record['size']} / 10MB, {case}", "kind": "rss_ratio",
                        "value": round(growth, 3), "paired_low": None, "paired_high": None,
                        "target": RSS_GROWTH, "ok": growth <= RSS_GROWTH})
    return out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(lines)


def _mb(kb: int | None) -> str:
    return f"{kb / 1024:.0f}" if kb else "-"


def render(record: dict[str, Any]) -> str:
    rows = []
    for key, case in record["cases"].items():
        samples = case["samples"]
        s = Summary.of([x["seconds"] for x in samples])
        self_kb = max((x.get("self_maxrss_kb") or 0) for x in samples) or None
        child_kb = max((x.get("children_maxrss_kb") or max(x["peaks_kb"].values(), default=0)) for x in samples)
        cpu = Summary.of([x["cpu_s"] + x["server_cpu_s"] for x in samples]).median
        size = samples[-1].get("extra", {}).get("archive_bytes")
        rows.append([key, case["label"], f"{s.median:.2f}", f"{s.low:.2f}-{s.high:.2f}", f"{s.spread:.0%}",
                     f"{cpu:.1f}", _mb(self_kb), _mb(child_kb), f"{size / 1e6:.0f}" if size else ""])
    mach = record["machine"]
    head = (f"PostgreSQL {mach['postgres']}, pgdrill compression: {record['pgdrill_compression']}, "
            f"{record['reps']} reps, load {mach['load_at_start']:.1f} -> {mach['load_at_end']:.1f} "
            f"on {mach['cpus']} CPUs")
    dbs = ", ".join(f"{role}: {d['database_bytes'] / 1e6:.0f} MB on disk, archive {d['archive_bytes'] / 1e6:.0f} MB"
                    for role, d in record["databases"].items())
    parts = [head, f"databases: {dbs}", "",
             _table(["case", "what", "median s", "min-max", "spread", "CPU s", "pgdrill RSS MB", "pg_*/bare RSS MB",
                     "archive MB"],
                    rows),
             ""]
    rrows = []
    for r in record["ratios"]:
        if r["kind"] == "share":
            fmt = "{:.1%}"
        elif r["kind"] == "rss_mb":
            fmt = "{:.0f}"
        else:
            fmt = "{:.3f}"
        paired = "" if r["paired_low"] is None else f"{fmt.format(r['paired_low'])}-{fmt.format(r['paired_high'])}"
        target = "" if r["target"] is None else ("≤ " + fmt.format(r["target"]))
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        cpu = "" if r.get("cpu") is None else f"{r['cpu']:.3f}"
        rrows.append([r["name"], fmt.format(r["value"]), paired, cpu, target, ok])
    parts.append(_table(["comparison", "ratio", "per-rep range", "CPU ratio", "target", "holds"], rrows))
    startup = record.get("startup")
    if startup:
        from bench.startup import render as render_startup

        parts += ["", "start-up (bench/startup.py):", render_startup(startup)]
    if record.get("skipped"):
        parts += ["", "skipped: " + "; ".join(record["skipped"])]
    return "\n".join(parts)
