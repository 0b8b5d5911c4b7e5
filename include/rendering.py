"""A :class:`~include.report.Report` as JSON (for machines), Markdown (chat, notifications) and HTML
(people), and the reports page of the plugin, from the Jinja2 templates in ``include/templates/``.

HTML templates are autoescaped: a target name or a message holding markup shows as text.
Python here only prepares what the templates show (key metrics, action lines, sections).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from include.checks.base import CheckResult
from include.report import Outcome, Report

TEMPLATES = Path(__file__).parent / "templates"
STATUS_COLOUR = {
    "healthy": "#1a7f37",
    "ok": "#1a7f37",
    "warning": "#9a6700",
    "critical": "#cf222e",
    "unreachable": "#cf222e",
    "complete": "#1a7f37",
    "verified": "#1a7f37",
    "restored": "#1a7f37",
    "promoted": "#1a7f37",
    "failed": "#cf222e",
    "rollback-failed": "#cf222e",
    "stale": "#bc4c00",
}
#: The colour of a state without one of its own (e.g. an update's outcome on the runs page).
OTHER_COLOUR = "#555"


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    """The template environment: HTML autoescaped, Markdown not (it is not HTML); undefined names fail."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["colour"] = lambda status: STATUS_COLOUR.get(str(status), OTHER_COLOUR)
    env.filters["svg_chart"] = _svg_chart
    env.filters["fromjson"] = json.loads
    return env


def _svg_chart(chart: dict[str, Any]) -> Markup:
    """A chart's data drawn as inline SVG (matplotlib, imported only by reports that draw charts)."""
    from include.monthly.charts import svg

    return Markup(svg(chart))  # noqa: S704 - matplotlib writes the SVG and escapes the text it holds


def _template(report: Report, ext: str) -> str:
    """The routine's own template (``<routine>.<ext>.j2``) when it has one, else the common one (always for a
    refused request: its report has none of the routine's own facts, only the one row naming why)."""
    own = f"{report.routine}.{ext}.j2"
    refused = report.outcome == Outcome.REFUSED
    return own if (TEMPLATES / own).is_file() and not refused else f"report.{ext}.j2"


def render_template(name: str, **values: Any) -> str:
    """Render ``include/templates/<name>`` (autoescaped when it is ``*.html.j2``)."""
    return _environment(name.endswith(".html.j2")).get_template(name).render(**values)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str, sort_keys=True)


def render_markdown(report: Report) -> str:
    text = render_template(_template(report, "md"), **_view(report))
    return text.rstrip("\n") + "\n"


def render_html(report: Report) -> str:
    return render_template(_template(report, "html"), **_view(report))


RENDERERS = {"json": render_json, "md": render_markdown, "html": render_html}


def _view(report: Report) -> dict[str, Any]:
    """What the report templates show, beyond the report itself."""
    counts = ", ".join(f"{n} {state}" for state, n in report.summary.counts.items() if n)
    return {
        "report": report,
        "counts": counts,
        "with_actions": bool(report.sections),
        "start": report.interval_start.isoformat(),
        "end": report.interval_end.isoformat(),
        "settings": settings_lines(report),
        "sections": [{"title": title, "rows": [_row_view(r) for r in rows]} for title, rows in _sections(report)],
    }


#: the inventory's run-wide settings a report shows (:func:`include.publish.run_settings`)
RUN_WIDE = ("fail_run_on", "lock_wait_s", "timeout_seconds")


def settings_lines(report: Report) -> list[str]:
    """The run's settings as lines, e.g. ``form thresholds: {"disk_warning_pct": 70}``."""
    form, inventory = report.settings.get("form", {}), report.settings.get("inventory", {})
    lines = [f"form {key}: {json.dumps(value, sort_keys=True, default=str)}" for key, value in sorted(form.items())]
    lines += [
        f"inventory {key}: {inventory[key]:g}"
        if isinstance(inventory[key], float)
        else f"inventory {key}: {inventory[key]}"
        for key in RUN_WIDE
        if key in inventory
    ]
    lines += [
        f"inventory {name}: {json.dumps(overrides, sort_keys=True, default=str)}"
        for name, overrides in sorted(inventory.get("targets", {}).items())
    ]
    return lines


def _row_view(row: CheckResult) -> dict[str, Any]:
    return {
        "target": row.target,
        "kind": row.kind,
        "status": row.status,
        "duration_s": row.duration_s,
        "key_metrics": key_metrics(row),
        "actions": actions(row),
        "details_json": json.dumps(row.details, indent=1, default=str),
    }


def _sections(report: Report) -> list[tuple[str, list[CheckResult]]]:
    """The report's result tables: one per section when it has sections (each naming its concerns), else one."""
    if not report.sections:
        return [("Targets", report.rows)]
    return [(s.title, [r for r in report.rows if r.concern in s.concerns]) for s in report.sections]


#: Keys that name the item a detail row is about (a table, a key pattern, a collection, a file, ...).
ITEM_KEYS = (
    "table",
    "partition",
    "name",
    "index_name",
    "pattern",
    "collection",
    "index",
    "file",
    "path",
    "key",
    "database",
    "metric",
)


def actions(row: CheckResult, limit: int = 15) -> list[str]:
    """One line per detail row that carries an ``action`` (done / would do / skipped: why), plus the row's note.

    Rows are found at any depth (a list of tables, a mapping of collections to their compaction and indexes).
    """
    details = row.details or {}
    lines = [details["note"]] if isinstance(details.get("note"), str) else []
    for path, item in _action_rows(details, []):
        own = (
            " ".join(str(item[k]) for k in ITEM_KEYS[:2] if item.get(k) is not None)  # table [partition]
            or next((str(item[k]) for k in ITEM_KEYS if item.get(k) is not None), None)
        )
        name = " ".join(path[1:] + ([own] if own else [])) or path[-1]
        extra = [
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in item.items()
            if k not in ITEM_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        lines.append(f"{name}: {item['action']}" + (f" ({', '.join(extra[:6])})" if extra else ""))
    if len(lines) > limit:
        lines = lines[:limit] + [f"… {len(lines) - limit} more in report.json"]
    return lines


def _action_rows(value: Any, path: list[str]):
    """(path of mapping keys, row) for every mapping with a string ``action`` inside ``value``."""
    if isinstance(value, dict):
        if isinstance(value.get("action"), str):
            yield path, value
        for key, inner in value.items():
            if isinstance(inner, (dict, list)):
                yield from _action_rows(inner, path + [str(key)])
    elif isinstance(value, list):
        for inner in value:
            yield from _action_rows(inner, path)


def key_metrics(row: CheckResult, limit: int = 4) -> str:
    items = list(row.metrics.items())[:limit]
    return ", ".join(f"{k.split('.', 1)[-1]}={v:g}" for k, v in items)
