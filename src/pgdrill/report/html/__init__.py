"""HTML output: an escaping builder (markup), inline SVG charts (charts) and the self-contained page
with its print style sheet (page). The dashboard and the evidence report are drawn with these."""

from pgdrill.report.html.charts import Bar, Point, bar_chart, time_chart
from pgdrill.report.html.markup import Html, el, esc, join, raw
from pgdrill.report.html.page import document

__all__ = ["Bar", "Html", "Point", "bar_chart", "document", "el", "esc", "join", "raw", "time_chart"]
