"""Drafts as Label Studio predictions, and Label Studio's prediction ids recorded against their drafts.

An import does not answer with the ids of the predictions it created, so once the
chunks are in, push reads the predictions of the tasks it touched (the project's
whole prediction list when that is not much larger, in one request; else the
tasks by id range through the Data Manager, one request per 1,000 tasks) and
`match_predictions` (pure) pairs them with the drafts sent, by (task id, model
version). The ids land in `predictions.ls_prediction_id`, which is what a
gold row's `parent_prediction` points at.

Every prediction carries a score in [0, 1], which the project's data manager view
sorts by, weakest first, and each of its regions a score of its own (Label Studio
shows it on the region): with a calibration of the project (`annotator calibrate`),
the calibrated probability that the whole draft is right and that each span (or
relation) is in the gold; before one, the raw signals (`confidence/apply.py`). A
draft made before signals were stored falls back to `draft_score`:

    score = grounded share x first-attempt validity
    grounded share        = spans found in the sentence / spans the LLM gave (1 when it gave none)
    first-attempt validity = 1 / the attempts the draft took (1 when its first answer validated,
                             1/2 after one re-ask with the validation error, 1/3 after two)

so a draft whose spans all grounded at the first answer scores 1, one that had half
its spans invented scores 0.5, and one that needed a re-ask scores at most 0.5.

The model version is short and readable: `model · prompt version · schema hash[:6]`.
Projects pushed before it record `model|prompt version|schema hash`; `version_key`
reads both forms, so matching and evaluation treat them as the same draft set.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set

import sqlite_utils
from label_studio_sdk import LabelStudio
from label_studio_sdk.label_interface import LabelInterface

from ..confidence.apply import Confidence, draft_confidence
from ..schema import Schema
from .api import PAGE_SIZE, calling, id_range_query, task_pages
from .convert import draft_to_result
from .projects import Project

MAX_PAGE = 5000
"""Largest Data Manager page asked for when reading the predictions of a chunk's tasks."""

LIST_RATIO = 5
"""Listing a project's predictions (/api/predictions, one unpaged answer) costs about a sixth of reading
tasks with their predictions through the Data Manager (1,000 on 1.23.2: 0.53 s against 3.3 s): list the
whole project while it holds at most this many predictions per task wanted."""

LIST_LIMIT = 50_000
"""Never list more predictions than this in one answer (memory); page through the Data Manager instead."""


VERSION_SEP = " · "
"""Between the parts of a model version."""


def model_version_of(draft: Mapping) -> str:
    """The Label Studio model_version of a draft: `model · prompt version · schema hash[:6]`."""
    return VERSION_SEP.join((draft["model"], draft["prompt_version"], draft["schema_hash"][:6]))


def version_key(version: str) -> tuple[str, ...]:
    """What identifies a model version, in either form: (model, prompt version, schema hash[:6]).

    Reads the current form and the older `model|prompt version|schema hash`; any other
    string is its own key.
    """
    for sep in (VERSION_SEP, "|"):
        parts = version.rsplit(sep, 2)
        if len(parts) == 3:
            return parts[0], parts[1], parts[2][:6]
    return (version,)


def shown_version(draft: Mapping, project_version: str | None) -> str:
    """The version to send a draft under: the project's when it names the same drafts in the older form
    (so its earlier predictions stay pre-filled), else `model_version_of`."""
    version = model_version_of(draft)
    if project_version and version_key(project_version) == version_key(version):
        return project_version
    return version


def draft_score(draft: Mapping) -> float:
    """The draft's score in [0, 1]: grounded share x first-attempt validity (see the module's docstring)."""
    spans = json.loads(draft["spans"] or "[]")
    # A relation's two grounded ends are one kept item, as a dropped relation is one dropped item.
    kept = len({(s.get("field"), s["relation"]) if "relation" in s else i for i, s in enumerate(spans)})
    given = kept + (draft["n_dropped"] or 0)
    grounded = kept / given if given else 1.0
    return round(grounded / max(1, draft.get("attempts") or 1), 4)


def shifted(spans: Iterable[dict], shift: int) -> list[dict]:
    """Spans with offsets into the sentence moved to offsets into the task's text."""
    return [{**s, "start": s["start"] + shift, "end": s["end"] + shift} for s in spans]


def region_scores(result: list[dict], spans: Sequence[dict], confidence: Confidence) -> None:
    """Give each region of `result` its own score: its span's probability; a relation's end, the lowest of the
    relations it is an end of. `spans` are the draft's spans at the offsets `result` uses."""
    score: dict[tuple, float] = {}
    kept: dict[str, int] = defaultdict(int)
    for span in spans:
        name = span.get("field")
        key = (name, span["start"], span["end"], span.get("label"))
        if "relation" in span:
            probs = confidence.relations.get(name, [])
            p = probs[span["relation"]] if span["relation"] < len(probs) else None
        else:
            probs = confidence.spans.get(name, [])
            p = probs[kept[name]] if kept[name] < len(probs) else None
            kept[name] += 1
        if p is not None:
            score[key] = min(p, score.get(key, 1.0))
    for item in result:
        value = item.get("value")
        if isinstance(value, dict) and "start" in value and value.get("labels"):
            p = score.get((item.get("from_name"), value["start"], value["end"], value["labels"][0]))
            if p is not None:
                item["score"] = round(p, 4)


def prediction_of(schema: Schema, interface: LabelInterface, draft: Mapping, text: str,
                  version: str | None = None, shift: int = 0, maps: Mapping | None = None) -> tuple[dict | None, str]:
    """(the prediction for an ok draft row, with its score, "") once checked locally, or (None, why it is invalid).

    What push sends and what the ML backend answers. `text` is the task's text and
    `shift` where the sentence starts in it (0 when the text is the sentence, as push
    makes it); `version` is the model version to send it under (default
    `model_version_of`); `maps` the project's newest calibration (None: the raw
    signals score it). The whole prediction, scores included, is checked as sent.
    """
    try:
        data, spans = json.loads(draft["data"]), shifted(json.loads(draft["spans"] or "[]"), shift)
        result = draft_to_result(schema, text, data, spans)
        signals = json.loads(draft["signals"]) if draft.get("signals") else None
        confidence = draft_confidence(schema.fields, maps, data, spans, signals, draft_score(draft))
    except (ValueError, TypeError, KeyError) as exc:
        return None, f"draft {draft['id']}: {exc}"
    region_scores(result, spans, confidence)
    prediction = {"model_version": version or model_version_of(draft), "score": round(confidence.draft, 4),
                  "result": result}
    errors = interface.validate_prediction(prediction, return_errors=True)
    if errors:
        return None, f"draft {draft['id']}: {'; '.join(errors[:3])}"
    return prediction, ""


def match_predictions(sent: Sequence[tuple[str, int, str]], server: Iterable[tuple[int, int, str]],
                      taken: Set[int] = frozenset()) -> dict[str, int]:
    """Pair drafts with the server's predictions: draft id -> Label Studio prediction id.

    `sent` holds (draft id, task id, model version) in the order the drafts were sent;
    `server` holds (task id, prediction id, model version) as the server lists them;
    `taken` are prediction ids already recorded for other drafts. Within one (task,
    model version), the server numbers predictions in the order it created them, so
    the oldest free prediction goes to the first draft sent. A draft with no free
    prediction is left out. Versions compare by `version_key`: either form matches.
    """
    free: dict[tuple[int, tuple[str, ...]], list[int]] = defaultdict(list)
    for task_id, prediction_id, version in server:
        if prediction_id not in taken:
            free[(task_id, version_key(version))].append(prediction_id)
    for ids in free.values():
        ids.sort(reverse=True)
    matched: dict[str, int] = {}
    for draft_id, task_id, version in sent:
        ids = free.get((task_id, version_key(version)))
        if ids:
            matched[draft_id] = ids.pop()
    return matched


def server_predictions(tasks: Iterable[dict], wanted: Set[int] | None = None) -> list[tuple[int, int, str]]:
    """(task id, prediction id, model version) of the predictions on Data Manager tasks (those in `wanted`)."""
    return [(task["id"], p["id"], p.get("model_version") or "")
            for task in tasks if wanted is None or task["id"] in wanted
            for p in task.get("predictions") or [] if isinstance(p, dict) and p.get("id") is not None]


def list_predictions(ls: LabelStudio, project: Project, after: str) -> list[tuple[int, int, str]]:
    """(task id, prediction id, model version) of every prediction in the project (one request)."""
    with calling(project.url, f"listing the predictions of project {project.name!r}", after):
        found = ls.predictions.list(project=project.ls_id)
    return [(p.task, p.id, p.model_version or "") for p in found if p.id is not None]


def id_groups(task_ids: Sequence[int], size: int) -> list[list[int]]:
    """Sorted task ids in groups of at most `size`, each read as one id range."""
    ordered = sorted(set(task_ids))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def read_predictions(ls: LabelStudio, project: Project, task_ids: Sequence[int], *, project_total: int,
                     after: str) -> list[tuple[int, int, str]]:
    """(task id, prediction id, model version) of the predictions on `task_ids`.

    One request listing the whole project's predictions while it holds at most
    LIST_RATIO per task wanted (and at most LIST_LIMIT); otherwise one Data Manager
    request per PAGE_SIZE tasks, by id range (more when other tasks sit in the range).
    """
    wanted = set(task_ids)
    if project_total <= min(LIST_LIMIT, LIST_RATIO * len(wanted)):
        return [p for p in list_predictions(ls, project, after) if p[0] in wanted]
    found: list[tuple[int, int, str]] = []
    for group in id_groups(task_ids, PAGE_SIZE):
        span = group[-1] - group[0] + 1
        for page in task_pages(ls, url=project.url, ls_project_id=project.ls_id, query=id_range_query(group),
                               include="id,predictions", page_size=min(span, MAX_PAGE),
                               doing=f"reading the predictions of {len(group)} tasks", after=after):
            found += server_predictions(page, wanted)
    return found


def record_prediction_ids(db: sqlite_utils.Database, ls: LabelStudio, project: Project,
                          sent: Sequence[tuple[str, int, str]], *, project_total: int, after: str) -> int:
    """Read the predictions of the tasks in `sent` and record their ids against the drafts sent.

    `sent` holds (draft id, task id, model version) in the order sent; `project_total`
    is how many predictions the project holds now. Returns how many ids were recorded.
    """
    if not sent:
        return 0
    task_ids = sorted({task_id for _, task_id, _ in sent})
    found = read_predictions(ls, project, task_ids, project_total=project_total, after=after)
    matched = match_predictions(sent, found, taken_prediction_ids(db, project.id, task_ids))
    with db.atomic():
        db.conn.executemany("UPDATE predictions SET ls_prediction_id = ? WHERE project_id = ? AND draft_id = ?",
                            [(pid, project.id, draft_id) for draft_id, pid in matched.items()])
    return len(matched)


def taken_prediction_ids(db: sqlite_utils.Database, project_id: str, task_ids: list[int]) -> set[int]:
    """Prediction ids already recorded for drafts on these tasks."""
    taken: set[int] = set()
    for start in range(0, len(task_ids), 500):
        part = task_ids[start:start + 500]
        taken.update(r["ls_prediction_id"] for r in db.query(
            f"SELECT ls_prediction_id FROM predictions WHERE project_id = ? AND ls_prediction_id IS NOT NULL "
            f"AND task_id IN ({','.join('?' * len(part))})", [project_id, *part]))
    return taken
