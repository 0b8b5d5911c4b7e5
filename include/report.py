"""Reports: one summary rendered as JSON (for machines), Markdown (for chat and
notifications) and HTML (for people), written through ``ObjectStoragePath`` so
the same code writes to a local folder or to S3."""

from __future__ import annotations

import html
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

STATUS_COLOUR = {"healthy": "#1a7f37", "ok": "#1a7f37", "warning": "#9a6700", "critical": "#cf222e",
                 "unreachable": "#cf222e"}


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str, sort_keys=True)


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        f"# {report['title']}",
        "",
        f"**Overall: {s['status'].upper()}** — {s['targets']} target(s) checked; "
        + ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n),
        "",
        f"Interval: {report['interval'][0]} → {report['interval'][1]} · run `{report['run_id']}`",
        "",
    ]
    if report.get("mode"):
        lines += [f"Mode: {report['mode']}", ""]
    if s["reasons"]:
        lines += ["## Why", ""] + [f"- **{r['level']}** `{r['target']}`: {r['message']}" for r in s["reasons"]] + [""]
    for title, results in _sections(report):
        lines += [f"## {title}", ""]
        if not results:
            lines += ["Nothing ran in this section.", ""]
            continue
        lines += ["| target | kind | status | took | key metrics |", "|---|---|---|---|---|"]
        for r in results:
            lines.append(f"| {r['target']} | {r['kind']} | {r['status']} | {r['duration_s']}s | {_key_metrics(r)} |")
        if report.get("sections"):
            lines += [""] + [f"- `{r['target']}` {line}" for r in results for line in _actions(r)] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_html(report: dict[str, Any]) -> str:
    s = report["summary"]
    e = html.escape
    reasons = "".join(
        f"<li><span class='badge' style='background:{STATUS_COLOUR[r['level']]}'>{e(r['level'])}</span> "
        f"<b>{e(r['target'])}</b>: {e(r['message'])}</li>" for r in s["reasons"]
    ) or "<li>Nothing to report: every check passed.</li>"
    tables = "".join(
        f"<h2>{e(title)}</h2>" + (
            "<p>Nothing ran in this section.</p>" if not results else
            "<table><tr><th>target</th><th>kind</th><th>status</th><th>took</th><th>key metrics</th><th></th></tr>"
            + "".join(_html_row(r, bool(report.get("sections"))) for r in results) + "</table>")
        for title, results in _sections(report)
    )
    mode = f"<p>Mode: {e(report['mode'])}</p>" if report.get("mode") else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(report['title'])}</title>
<style>
 body{{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem;color:#1f2328}}
 .badge{{color:#fff;border-radius:.3rem;padding:.05rem .4rem;font-size:.85em}}
 table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #d0d7de;padding:.35rem;text-align:left;vertical-align:top}}
 pre{{white-space:pre-wrap;font-size:.8em;max-width:40rem}} .overall{{font-size:1.4em}}
</style></head><body>
<h1>{e(report['title'])}</h1>
<p class="overall">Overall: <span class="badge" style="background:{STATUS_COLOUR[s['status']]}">{e(s['status'])}</span>
 — {s['targets']} target(s) checked</p>
<p>Interval {e(str(report['interval'][0]))} → {e(str(report['interval'][1]))} · run <code>{e(report['run_id'])}</code></p>{mode}
<h2>Why</h2><ul>{reasons}</ul>
{tables}
</body></html>
"""


def _html_row(r: dict[str, Any], with_actions: bool) -> str:
    e = html.escape
    actions = "".join(f"<li>{e(line)}</li>" for line in _actions(r)) if with_actions else ""
    return (
        f"<tr><td>{e(r['target'])}</td><td>{e(r['kind'])}</td>"
        f"<td><span class='badge' style='background:{STATUS_COLOUR[r['status']]}'>{e(r['status'])}</span></td>"
        f"<td>{r['duration_s']}s</td><td>{e(_key_metrics(r))}{f'<ul>{actions}</ul>' if actions else ''}</td>"
        f"<td><details><summary>details</summary><pre>{e(json.dumps(r['details'], indent=1, default=str))}</pre></details></td></tr>"
    )


def _sections(report: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The report's result tables: one per section when it has sections (each naming its concerns), else one."""
    if not report.get("sections"):
        return [("Targets", report["results"])]
    return [(s["title"], [r for r in report["results"] if r.get("concern") in s["concerns"]])
            for s in report["sections"]]


#: Keys that name the item a detail row is about (a table, a key pattern, a collection, a file, ...).
ITEM_KEYS = ("table", "partition", "name", "index_name", "pattern", "collection", "index", "file", "path", "key",
             "database", "metric")


def _actions(result: dict[str, Any], limit: int = 15) -> list[str]:
    """One line per detail row that carries an ``action`` (done / would do / skipped: why), plus the row's note.

    Rows are found at any depth (a list of tables, a mapping of collections to their compaction and indexes).
    """
    details = result.get("details") or {}
    lines = [details["note"]] if isinstance(details.get("note"), str) else []
    for path, item in _action_rows(details, []):
        own = (" ".join(str(item[k]) for k in ITEM_KEYS[:2] if item.get(k) is not None)  # table [partition]
               or next((str(item[k]) for k in ITEM_KEYS if item.get(k) is not None), None))
        name = " ".join(path[1:] + ([own] if own else [])) or path[-1]
        extra = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in item.items()
                 if k not in ITEM_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)]
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


def _key_metrics(result: dict[str, Any], limit: int = 4) -> str:
    items = list(result.get("metrics", {}).items())[:limit]
    return ", ".join(f"{k.split('.', 1)[-1]}={v:g}" for k, v in items)


RENDERERS = {"json": render_json, "md": render_markdown, "html": render_html}


def write_report(folder, report: dict[str, Any]) -> dict[str, str]:
    """Write ``report.json``, ``report.md`` and ``report.html`` under ``folder`` (an ObjectStoragePath).

    Writing the same report to the same folder again overwrites it: a retry
    leaves one report, not two.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for ext, render in RENDERERS.items():
        path = folder / f"report.{ext}"
        path.write_text(render(report))
        written[ext] = str(path)
    return written


def publish(report: dict[str, Any], folder) -> dict[str, str]:
    """Write the report's three renderings to ``folder`` and log where they are."""
    written = write_report(folder, report)
    log.info("report (%s) written:\n  %s", report["summary"]["status"], "\n  ".join(written.values()))
    return written


def publish_run_report(inventory, report: dict[str, Any], interval_end) -> dict[str, str]:
    """Publish under ``<artifacts>/reports/<routine>/<interval end>/`` (one folder per interval)."""
    from include.artifacts import artifact_folder, interval_key

    return publish(report, artifact_folder(inventory, "reports", report["routine"], interval_key(interval_end)))


def alert_text(report: dict[str, Any], written: dict[str, str]) -> tuple[str, str, str]:
    """Subject, Markdown text and HTML body of the alert for a run that is not healthy."""
    s = report["summary"]
    subject = f"[Aegis] {report['routine']}: {s['status'].upper()} ({len(s['reasons'])} reason(s))"
    text = render_markdown(report) + f"\nFull report: {written.get('html', '(not written)')}\n"
    return subject, text, render_html(report)
