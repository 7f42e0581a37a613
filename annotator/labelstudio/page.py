"""The annotator's page beyond the labeling config: the project's instructions and the data manager view.

Both are derived from the schema (and the config's hotkeys) and set by every push,
idempotently: the instructions (`expert_instruction`, shown before labelling with
`show_instruction`) list every field and label with its description and key, and
the workflow Label Studio expects (the label first, then the drag). The view
`VIEW_TITLE` shows the sentence first, hides our id hashes, shows the prediction
score and sorts tasks by it from the lowest, so a lead can send the weakest drafts
to the best annotators (`predictions.draft_score` defines the score).

Pure: `instructions_html`, `view_data`, `view_action`. Edge: `set_up_page`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from label_studio_sdk import LabelStudio

from ..kinds import BOOL, CHOICE, CHOICES, NUMBER, RELATIONS, SPANS, TEXT, FieldSpec
from ..schema import Schema
from .api import calling
from .config import CONTEXT_NAME, CONTEXT_TITLE, TEXT_NAME, hotkeys, layout_order
from .projects import Project

VIEW_TITLE = "Weakest drafts first"
"""The data manager tab push creates and keeps up to date."""

SCORE_COLUMN = "tasks:predictions_score"

SHOWN_COLUMNS = {
    "explore": (f"tasks:data.{TEXT_NAME}", f"tasks:data.{CONTEXT_NAME}", "tasks:id", SCORE_COLUMN,
                "tasks:total_annotations", "tasks:cancelled_annotations", "tasks:annotators"),
    "labeling": (f"tasks:data.{TEXT_NAME}", SCORE_COLUMN, "tasks:total_annotations"),
}
"""Columns the view shows in the task table and in the list beside the labeling page; the rest are hidden.
(Label Studio draws task columns before data columns: the widths make the sentence the widest.)"""

KEPT = ("ordering", "hiddenColumns")
"""What push restores in its view when it was changed."""

WIDTHS = {f"tasks:data.{TEXT_NAME}": 460, f"tasks:data.{CONTEXT_NAME}": 300, SCORE_COLUMN: 130}

WORKFLOW = (
    "Read the sentence at the top, in large type: it is the only text you label. The grey block "
    f"<i>{CONTEXT_TITLE}</i> under it is there for context only.",
    "To mark words, <b>first</b> press the label's key (or click the label), <b>then</b> drag over the words. "
    "Selecting words first and pressing a key afterwards creates nothing.",
    "The model's draft is already filled in. Check every highlight: to change its label, click the highlight, "
    "then click the right label; to remove it, click it and press Backspace.",
    "Answer every question under the sentence, then press <b>Submit</b> (Ctrl+Enter).",
)

EDITOR_KEYS = (
    ("Ctrl+Enter", "submit the task"), ("Ctrl+Space", "skip the task"), ("Ctrl+Z", "undo"),
    ("Backspace", "delete the selected highlight"), ("U or Escape", "unselect the highlight"),
)

_KBD = "<kbd>{}</kbd>"
"""Label Studio keeps these tags and drops every style attribute (it sanitizes the instructions)."""

_HOW = {SPANS: "Mark every span of the sentence that is one of these, with its label.",
        CHOICE: "Choose one.", BOOL: "Choose yes or no.", CHOICES: "Choose every value that applies.",
        TEXT: "Write the answer in the box.", NUMBER: "Enter a number.",
        RELATIONS: "Mark both ends with their labels, then link them: click the first end (its region), click "
                   "<b>Create Relation</b> in the region's details on the right, then click the other end. "
                   "Choose the relation's label in the "
                   "<b>Relations</b> tab (the ⋯ button on the relation); delete a wrong one with its bin. "
                   "Every marked end must be linked."}


# --------------------------------------------------------------------------- pure core


def _row(tag: str, *cells: str) -> str:
    """A table row of `tag` cells (HTML already escaped)."""
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _field_html(spec: FieldSpec, keys: Mapping[tuple[str, str], str]) -> list[str]:
    """One field's part of the instructions: its title, description, and each label's key and meaning."""
    esc = html.escape
    parts = [f"<h3>{esc(spec.heading)}</h3>"]
    if spec.description:
        parts.append(f"<p>{esc(spec.description)}</p>")
    parts.append(f"<p><i>{_HOW.get(spec.kind, '')}</i></p>")
    if spec.labels:
        rows = [_row("th", "Key", "Label", "Meaning")]
        for v in spec.labels:
            key = keys.get((spec.name, v))
            rows.append(_row("td", _KBD.format(esc(key)) if key else "", f"<b>{esc(spec.display(v))}</b>",
                             esc(spec.label_descriptions.get(v, ""))))
        parts.append(f"<table>{''.join(rows)}</table>")
    if spec.relation is not None:
        ends = " → ".join(esc(spec.display(label)) for _, label in spec.relation.ends)
        rows = [_row("th", "Relation", "Meaning")] + [
            _row("td", f"<b>{esc(label)}</b>", esc(spec.relation.descriptions.get(label, "")))
            for label in spec.relation.labels]
        parts.append(f"<p>Each relation runs {ends}.</p><table>{''.join(rows)}</table>")
    return parts


def instructions_html(schema: Schema) -> str:
    """The project's instructions: the workflow, every field and label with its description and key."""
    keys = hotkeys(schema)
    # Numbered by hand: Label Studio's styles hide list numbers.
    parts = ["<h2>How to label</h2>", *(f"<p><b>{n}.</b> {step}</p>" for n, step in enumerate(WORKFLOW, 1))]
    doc = (schema.model.__doc__ or "").strip()
    parts.append("<h2>What to label</h2>" + (f"<p>{html.escape(doc)}</p>" if doc else ""))
    for spec in layout_order(schema):
        parts += _field_html(spec, keys)
    parts.append("<h2>Other keys</h2>" + "".join(
        f"<p>{_KBD.format(html.escape(k))}: {html.escape(what)}</p>" for k, what in EDITOR_KEYS))
    return "\n".join(parts)


def same_text(a: str | None, b: str) -> bool:
    """Whether two pieces of HTML read the same (Label Studio rewrites the instructions' markup)."""
    def words(text: str | None) -> list[str]:
        return html.unescape(re.sub(r"<[^>]*>", " ", text or "")).split()

    return words(a) == words(b)


def column_ids(columns: Sequence[Mapping]) -> list[str]:
    """The data manager's column ids (`tasks:data.text`, `tasks:id`...) from /api/dm/columns."""
    ids = []
    for column in columns:
        if "children" in column:  # the `data` group, not a column
            continue
        parent = f"{column['parent']}." if column.get("parent") else ""
        ids.append(f"{column.get('target', 'tasks')}:{parent}{column['id']}")
    return ids


def view_data(columns: Sequence[str]) -> dict:
    """The view's `data`: every column but the shown ones hidden, sorted by prediction score from the lowest."""
    hidden = {mode: [c for c in columns if c not in shown] for mode, shown in SHOWN_COLUMNS.items()}
    return {"title": VIEW_TITLE, "type": "list", "target": "tasks", "ordering": [SCORE_COLUMN],
            "hiddenColumns": hidden, "columnsWidth": {c: w for c, w in WIDTHS.items() if c in columns},
            "filters": {"conjunction": "and", "items": []}}


def view_action(views: Sequence[Mapping], wanted: Mapping) -> tuple[str, int | None]:
    """("create", None), ("update", view id) or ("keep", view id) for the view titled VIEW_TITLE.

    Only what the view is for is kept up to date (`KEPT`); column widths set by hand stay.
    """
    ours = [v for v in views if (v.get("data") or {}).get("title") == VIEW_TITLE]
    if not ours:
        return "create", None
    view = min(ours, key=lambda v: v["id"])
    data = view.get("data") or {}
    same = all(data.get(k) == wanted.get(k) for k in KEPT)
    return ("keep" if same else "update"), view["id"]


# --------------------------------------------------------------------------- edge


def set_up_page(ls: LabelStudio, project: Project, schema: Schema, server: Any) -> list[str]:
    """Set the project's instructions and its sorted view when they differ; what was changed, in words."""
    done = []
    text = instructions_html(schema)
    shown = getattr(server, "show_instruction", False)
    if not (shown and same_text(getattr(server, "expert_instruction", None), text)):
        with calling(project.url, f"setting the instructions of project {project.name!r}"):
            ls.projects.update(id=project.ls_id, expert_instruction=text, show_instruction=True)
        done.append("instructions set")
    with calling(project.url, f"reading the data manager of project {project.name!r}"):
        response = ls._client_wrapper.httpx_client.request("api/dm/columns", method="GET",
                                                             params={"project": project.ls_id})
        response.raise_for_status()
        views = [v.model_dump(mode="json") for v in ls.views.list(project=project.ls_id)]
    wanted = view_data(column_ids(response.json().get("columns") or []))
    action, view_id = view_action(views, wanted)
    with calling(project.url, f"saving the view {VIEW_TITLE!r} of project {project.name!r}"):
        if action == "create":
            ls.views.create(project=project.ls_id, data=wanted)  # type: ignore[arg-type]
            done.append(f"view {VIEW_TITLE!r} created")
        elif action == "update":
            ls.views.update(id=str(view_id), project=project.ls_id, data=wanted)  # type: ignore[arg-type]
            done.append(f"view {VIEW_TITLE!r} updated")
    return done
