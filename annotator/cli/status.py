"""status: what is in the database, what it cost, and each Label Studio project's progress (`annotator/status.py`
gathers the figures; this module draws them)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..settings import redact_url
from .ui import console, db_option, open_database, out


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(db_file: str | None, as_json: bool) -> None:
    """Show documents, sentences, drafts by status, tokens, failures and projects.

    Each project's tasks are counted by their number of submitted annotations
    (0 up to the project's overlap, `push --overlap`), as of the last pull.
    A project `annotator serve` keeps live also shows its backend, the last
    webhook, the last prediction and the last pull.

    \b
    Example:
      annotator status --db news.db
    """
    from ..status import summary

    data = summary(open_database(db_file))
    if as_json:
        out.print_json(json.dumps(data))
        return
    marked = f" ({data['boilerplate']} boilerplate, neither drafted nor pushed)" if data["boilerplate"] else ""
    out.print(f"{data['documents']} documents, {data['sentences']} sentences{marked}")
    for table in status_tables(data):
        out.print(table)
    for p in data.get("projects") or ():
        if (p.get("routing") or {}).get("broken"):
            console.print(f"[yellow]{escape(p['routing']['broken_line'])}[/]", highlight=False, soft_wrap=True)


def status_tables(data: dict[str, Any]) -> list[Table]:
    """The Drafts, Not ok, Label Studio, Annotations per task, Routing and Live tables of `annotator status`, for
    the parts that have rows."""
    tables = []
    if data["drafts"]:
        table = Table("schema", "prompt", "model", "status", "drafts", "prompt tok", "completion tok", "dropped spans",
                      title="Drafts")
        for r in data["drafts"]:
            table.add_row(r["schema_name"], r["prompt_version"], r["model"], r["status"], str(r["n"]),
                          str(r["prompt_tokens"] or 0), str(r["completion_tokens"] or 0), str(r["dropped_spans"] or 0))
        tables.append(table)
    if data["failures"]:
        table = Table("status", "reason", "count", title="Not ok")
        for r in data["failures"]:
            table.add_row(r["status"], r["reason"] or "", str(r["n"]))
        tables.append(table)
    if data.get("projects"):
        table = Table("project", "id", "pushed", "annotated", "skipped", "pending", "duplicate spans", "scores",
                      "url", title="Label Studio")
        for p in data["projects"]:
            table.add_row(p["name"], str(p["ls_id"]), str(p["pushed"]), str(p["annotated"]), str(p["skipped"]),
                          str(p["pending"]), str(p.get("duplicate_spans") or 0), scores_cell(p.get("confidence")),
                          redact_url(p["url"]))
        tables.append(table)
    pushed = [p for p in data.get("projects") or () if p["pushed"]]
    if pushed:
        table = Table("project", "overlap", "tasks by annotations", "complete", "last pull",
                      title="Annotations per task (as of the last pull)")
        for p in pushed:
            table.add_row(p["name"], str(p["overlap"]), per_task_cell(p["annotations_per_task"]), str(p["complete"]),
                          _when(p.get("last_pull_at")) or "never")
        tables.append(table)
    routed = [p for p in data.get("projects") or () if p.get("routing")]
    if routed:
        tables.append(routing_table(routed))
    live = [p for p in data.get("projects") or () if p.get("live") or p.get("last_pull_at")]
    if live:
        table = Table("project", "backend", "last webhook", "webhooks", "last prediction", "predicted", "last pull",
                      title="Live")
        for p in live:
            table.add_row(p["name"], *live_cells(p))
        tables.append(table)
    return tables


def scores_cell(confidence: dict[str, Any] | None) -> str:
    """What scores a project's predictions: its calibration, or the raw signals until `annotator calibrate`."""
    if not confidence or not confidence["calibrated"]:
        return "raw signals (annotator calibrate)"
    return f"calibrated v{confidence['version']} ({confidence['gold']} gold)"


def per_task_cell(tasks: list[int]) -> str:
    """Tasks by their number of annotations, "annotations: tasks": "0: 2 · 1: 1 · 2: 1 · 3: 0"."""
    return " · ".join(f"{i}: {n}" for i, n in enumerate(tasks))


def routing_table(projects: list[dict[str, Any]]) -> Table:
    """Per routed project: the latest routing, what it accepted, sent to people and audited, the expected wrong
    accepted, and the audit's error with its 95% interval."""
    table = Table("project", "routing", "threshold", "accepted", "to people", "audited", "expected wrong",
                  "audit errors", "95% CI", "risk", title="Routing")
    for p in projects:
        r = p["routing"]
        ci = r["audit_ci"]
        table.add_row(p["name"], str(r["version"]), "none" if r["threshold"] is None else f"{r['threshold']:.4g}",
                      str(r["accepted"]), str(r["to_people"]), str(r["audited"]), f"{r['expected_wrong']:.1f}",
                      f"{r['audit_errors']} of {r['audit_answered']}" if r["audit_answered"] else "–",
                      f"{ci[0]:.1%}–{ci[1]:.1%}" if ci else "–", f"{r['risk']:g}")
    return table


def live_cells(project: dict[str, Any]) -> list[str]:
    """A project's live state as `status` shows it: the backend's URL (when connected), last webhook (action),
    count, last prediction, tasks predicted, last pull."""
    link = project.get("live") or {}
    backend = (redact_url(link["backend_url"]) if link.get("ml_backend_id") else
               "not connected") if link else "never served"
    webhook = f"{_when(link['last_webhook_at'])} ({link.get('last_webhook_action')})" \
        if link.get("last_webhook_at") else "none"
    return [backend, webhook, str(link.get("webhooks") or 0), _when(link.get("last_predict_at")) or "none",
            str(link.get("predicted_tasks") or 0), _when(project.get("last_pull_at")) or "never"]


def _when(stamp: str | None) -> str | None:
    """A stored UTC timestamp, shorter: 2026-01-02 03:04:05 UTC."""
    return f"{stamp.replace('T', ' ').removesuffix('+00:00')} UTC" if stamp else None


COMMANDS = [status]
