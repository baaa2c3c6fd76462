"""One self-contained HTML document: the style sheet inline, no script, no font, image or link to
anything outside the file. A Content-Security-Policy in the page itself forbids loading anything else
(the style sheet is allowed by its hash), so a page that tried would say so in the browser's console.
"""

from __future__ import annotations

import base64
import hashlib

from pgdrill.report.html.markup import Html, el, esc, raw

STYLE = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --none: #6e7781; --ink: #1f2328; --muted: #57606a;
  --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.02em; margin: 18px 0 6px; }
p.lead, p.meta, .muted { color: var(--muted); }
nav ul { list-style: none; padding: 0; margin: 8px 0 12px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
a { color: #0969da; }
section { margin-bottom: 12px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; margin: 14px 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--soft); }
.tile dt { font-size: .8em; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.tile dd { margin: 2px 0 0; font-size: 1.15em; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: .92em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .id { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: .88em;
  overflow-wrap: anywhere; }
.pass, .met, .keep, .healthy { color: var(--ok); }
.fail, .missed, .critical, .unhealthy { color: var(--bad); }
.warning, .warn { color: var(--warn); }
.none, .remove, .skip { color: var(--none); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid currentColor;
  font-size: .85em; font-weight: 600; }
svg.chart { width: 100%; height: auto; max-height: 240px; display: block; margin: 4px 0 6px; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .axis { fill: var(--muted); font-size: 12px; }
svg.chart .series { fill: none; stroke: #0969da; stroke-width: 1.5; }
svg.chart .dot { fill: #0969da; }
svg.chart .bar.pass { fill: var(--ok); }
svg.chart .bar.fail { fill: var(--bad); }
svg.chart .bar.none { fill: var(--none); }
svg.chart .target { stroke: var(--ink); stroke-width: 2; stroke-dasharray: 4 2; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 4px 18px; }
figure { margin: 0; }
figcaption { font-size: .9em; color: var(--muted); }
.months { display: flex; flex-wrap: wrap; gap: 14px; }
table.month { width: auto; font-size: .8em; }
table.month caption { font-weight: 600; text-align: left; padding-bottom: 2px; }
table.month th, table.month td { text-align: center; padding: 2px 4px; border: 1px solid var(--line);
  min-width: 2.3em; }
table.month td.pass { background: #dafbe1; font-weight: 600; }
table.month td.fail { background: #ffebe9; font-weight: 600; }
table.month td.out { border: none; }
.signoff td { height: 2.2em; }
ul.checklist { list-style: none; padding-left: 0; }
ul.checklist li::before { content: "\\2610\\00a0"; }
footer { color: var(--muted); font-size: .85em; padding-top: 16px; padding-bottom: 24px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 10pt; }
  header, main, footer { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; }
  section, figure, table.month, .tile { break-inside: avoid; }
  tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def document(title: str, body: Html, *, style: str = STYLE) -> str:
    """A whole HTML page around ``body``."""
    policy = f"default-src 'none'; style-src '{_hash(style)}'; img-src data:; base-uri 'none'; form-action 'none'"
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", http_equiv="Content-Security-Policy", content=policy),
        el("meta", name="generator", content="pgdrill"),
        el("title", title),
        el("style", raw(style)),
    )
    return "<!DOCTYPE html>\n" + el("html", head, el("body", body), lang="en")


__all__ = ["STYLE", "document", "esc"]
