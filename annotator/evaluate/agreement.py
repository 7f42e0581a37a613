"""Agreement between annotators, pure: each task's annotations by annotator in, `agreement --json` out.

Choice and bool fields: Krippendorff's alpha (nominal, the `krippendorff` package)
over every annotator and task, and Cohen's kappa for each pair of annotators over
the tasks both annotated. Span fields: F1 between each pair of annotators, exact
and overlap, micro-averaged (matches summed over all shared tasks, then F1),
overall and per label. Relation fields: the same F1, a relation matching when both
ends (offsets and labels) and its label are the same (exact) or both ends are
(unlabelled). When neither annotator of a pair marked anything in a field they agree
fully: F1 1.0 (and `nothing_marked` says so). A figure that is undefined (one value
only, no task with two annotators) is null.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import krippendorff
import numpy as np

from ..gold import value_key
from ..kinds import RELATIONS, SPANS, FieldSpec
from ..kinds.relations import relation_keys
from .metrics import NONE_LABEL, RelationCounts, SpanCounts, prf


@dataclass(frozen=True)
class Annotation:
    """One annotator's answer on one task."""

    task_id: int
    annotator: str
    data: dict
    spans: list[dict]


def _choice(value: object) -> str:
    if value is None:
        return NONE_LABEL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when chance agreement is 1."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def nominal_alpha(table: dict[str, dict[int, str]], tasks: list[int]) -> float | None:
    """Krippendorff's alpha (nominal) of annotator -> task -> label; None when undefined."""
    labels = sorted({v for row in table.values() for v in row.values()})
    if len(labels) < 2:
        return None
    code = {label: i for i, label in enumerate(labels)}
    data = np.array([[code[row[t]] if t in row else np.nan for t in tasks] for row in table.values()], dtype=float)
    try:
        value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    except (ValueError, ZeroDivisionError):
        return None
    return None if np.isnan(value) else value


def _pair_name(a: str, b: str) -> str:
    return f"{a}|{b}"


def _choice_field(table: dict[str, dict[int, str]], tasks: list[int]) -> dict:
    """alpha and pairwise kappa from annotator -> task -> label."""
    kappa = {}
    for a, b in itertools.combinations(sorted(table), 2):
        shared = [t for t in tasks if t in table[a] and t in table[b]]
        if shared:
            kappa[_pair_name(a, b)] = cohen_kappa([table[a][t] for t in shared], [table[b][t] for t in shared])
    return {"kind": "choice", "alpha": nominal_alpha(table, tasks), "kappa": kappa}


def _merge(parts: list[SpanCounts]) -> SpanCounts:
    """Counts summed over several pairs of annotators."""
    total = SpanCounts()
    for part in parts:
        for i in range(3):
            total.exact[i] += part.exact[i]
            total.overlap[i] += part.overlap[i]
        for mine, theirs in ((total.per_label, part.per_label), (total.per_label_overlap, part.per_label_overlap)):
            for label, counts in theirs.items():
                into = mine.setdefault(label, [0, 0, 0])
                for i in range(3):
                    into[i] += counts[i]
    return total


def _f1(counts: list[int], paired: bool) -> float | None:
    """F1 between annotators: None with no pair to compare, 1.0 when neither side marked anything."""
    if not paired:
        return None
    return 1.0 if not any(counts) else prf(*counts)["f1"]


def _span_report(pairs: dict[str, SpanCounts]) -> dict:
    total, paired = _merge(list(pairs.values())), bool(pairs)
    return {"kind": "spans", "f1_exact": _f1(total.exact, paired), "f1_overlap": _f1(total.overlap, paired),
            "nothing_marked": paired and not any(total.exact),
            "per_label": {k: {"f1_exact": _f1(total.per_label[k], True),
                              "f1_overlap": _f1(total.per_label_overlap[k], True)} for k in sorted(total.per_label)},
            "pairs": {name: {"f1_exact": _f1(c.exact, True), "f1_overlap": _f1(c.overlap, True)}
                      for name, c in pairs.items()}}


def _relation_report(pairs: dict[str, RelationCounts]) -> dict:
    total, paired = RelationCounts(), bool(pairs)
    for counts in pairs.values():
        total.merge(counts)
    return {"kind": "relations", "f1_exact": _f1(total.exact, paired), "f1_unlabelled": _f1(total.unlabelled, paired),
            "nothing_marked": paired and not any(total.exact),
            "per_label": {k: {"f1_exact": _f1(v, True)} for k, v in sorted(total.per_label.items())},
            "pairs": {name: {"f1_exact": _f1(c.exact, True), "f1_unlabelled": _f1(c.unlabelled, True)}
                      for name, c in pairs.items()}}


def _spans(answer: Annotation, name: str) -> list[dict]:
    return [s for s in answer.spans if s.get("field") == name]


def _items(spec: FieldSpec, answer: Annotation) -> list:
    """What one answer says in a span field (its spans) or a relation field (its relations' keys)."""
    if spec.kind == SPANS:
        return _spans(answer, spec.name)
    return relation_keys(spec, answer.data.get(spec.name), answer.spans)


def _compare_task(fields: tuple[FieldSpec, ...], answers: dict[str, Annotation],
                  pair_counts: dict[str, dict[str, SpanCounts | RelationCounts]]) -> float:
    """Add the task's spans and relations to the pair counts; return its disagreement (0 to 1, the mean over
    pairs and fields)."""
    scores = []
    for a, b in itertools.combinations(sorted(answers), 2):
        for spec in fields:
            if spec.kind in (SPANS, RELATIONS):
                sa, sb = _items(spec, answers[a]), _items(spec, answers[b])
                counts = pair_counts[spec.name].setdefault(
                    _pair_name(a, b), SpanCounts() if spec.kind == SPANS else RelationCounts())
                found = counts.add(sb, sa)
                kept = found if isinstance(found, int) else len(found.kept)
                scores.append(1 - 2 * kept / (len(sa) + len(sb)) if sa or sb else 0.0)
            elif spec.codec.metric == "choice":
                scores.append(float(_choice(answers[a].data.get(spec.name)) != _choice(answers[b].data.get(spec.name))))
            else:  # several choices as a set, as the gold rules compare them
                scores.append(float(value_key(answers[a].data.get(spec.name)) != value_key(answers[b].data.get(spec.name))))
    return sum(scores) / len(scores) if scores else 0.0


def task_disagreement(fields: tuple[FieldSpec, ...], answers: dict[str, Annotation]) -> float:
    """0 when every pair of annotators agrees on every field, up to 1: the mean share of disagreement."""
    return _compare_task(fields, answers, {spec.name: {} for spec in fields})


def agreement(fields: tuple[FieldSpec, ...], annotations: Iterable[Annotation | dict[str, Annotation]],
              top: int = 10) -> dict:
    """Agreement over tasks with answers from two or more annotators (one answer per annotator and task).

    `annotations` are single answers, or (streamed, as `load.agreement_tasks` gives them) each
    task's answers by annotator; only labels of choice fields are kept per task, not the answers.
    """
    choice_specs = [spec for spec in fields if spec.kind != SPANS and spec.codec.metric == "choice"]
    tables: dict[str, dict[str, dict[int, str]]] = {spec.name: {} for spec in choice_specs}
    span_pairs: dict[str, dict[str, SpanCounts | RelationCounts]] = {spec.name: {} for spec in fields}
    tasks, annotators, scores = [], set(), []
    for task_id, answers in _tasks(annotations):
        if len(answers) < 2:
            continue
        tasks.append(task_id)
        annotators.update(answers)
        scores.append((_compare_task(fields, answers, span_pairs), task_id))
        for spec in choice_specs:
            for who, answer in answers.items():
                tables[spec.name].setdefault(who, {})[task_id] = _choice(answer.data.get(spec.name))
    tasks.sort()
    out_fields = {}
    for spec in fields:
        if spec.kind == SPANS:
            out_fields[spec.name] = _span_report(span_pairs[spec.name])  # type: ignore[arg-type]
        elif spec.kind == RELATIONS:
            out_fields[spec.name] = _relation_report(span_pairs[spec.name])  # type: ignore[arg-type]
        elif spec.name in tables:
            out_fields[spec.name] = _choice_field(tables[spec.name], tasks)
    worst = sorted(scores, key=lambda x: (-x[0], x[1]))
    return {"tasks": len(tasks), "annotators": sorted(annotators), "fields": out_fields,
            "disagreements": [{"task_id": t, "disagreement": d} for d, t in worst[:top] if d > 0]}


def _tasks(annotations: Iterable[Annotation | dict[str, Annotation]]) -> Iterator[tuple[int, dict[str, Annotation]]]:
    """(task id, answers by annotator) from single answers (grouped here) or per-task dicts (passed on)."""
    single: dict[int, dict[str, Annotation]] = {}
    for item in annotations:
        if isinstance(item, dict):
            if item:
                yield next(iter(item.values())).task_id, item
        else:
            single.setdefault(item.task_id, {})[item.annotator] = item
    yield from single.items()
