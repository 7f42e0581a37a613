"""The `eval --html` report: one self-contained page (no script, no font, no network), drawn from the JSON
and, for the reliability diagrams, each field's bins (`charts.py`)."""

from __future__ import annotations

import jinja2

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #1d2430; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 2px solid #dde3ea; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; } .muted { color: #5b6675; }
table { border-collapse: collapse; margin: .3em 0 1em; } td, th { padding: 3px 8px; text-align: right; }
th { background: #f1f4f8; } td.l, th.l { text-align: left; }
.bar { display: flex; align-items: center; gap: .5em; margin: 2px 0; }
.bar .name { width: 16em; text-align: right; font-family: ui-monospace, monospace; font-size: .9em; }
.bar .track { width: 420px; height: 16px; background: #eef1f5; border-radius: 3px; }
.bar .fill { height: 16px; background: #2f6fdb; border-radius: 3px; }
.bar .fill.ov { background: #9db9ef; }
.cell { min-width: 3.2em; } .kpi { display: inline-block; margin-right: 2em; }
.kpi b { font-size: 1.4em; display: block; }
svg.reliability { display: block; margin: .4em 0 1em; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="muted">{{ subtitle }}</p>
{% for g in groups %}{% set gi = loop.index0 %}
<h2>{{ g.model }} · {{ g.prompt_version }} · schema {{ g.schema_hash }}</h2>
<div><span class="kpi"><b>{{ g.annotations }}</b>annotations</span>
<span class="kpi"><b>{{ pct(g.effort.unchanged_share) }}</b>submitted unchanged</span>
<span class="kpi"><b>{{ g.effort.kept }} / {{ g.effort.relabelled }} / {{ g.effort.moved }} / {{ g.effort.deleted }} / {{ g.effort.added }}</b>
regions kept / relabelled / moved / deleted / added</span></div>
{% if g.gap is defined %}<h3>Blind against pre-filled</h3><table><tr><th class="l">field</th><th>pre-filled</th><th>blind</th><th>gap</th></tr>
{% for name, gap in g.gap.items() %}<tr><td class="l">{{ name }}</td><td>{{ num(headline(g.prefilled.fields[name])) }}</td>
<td>{{ num(headline(g.blind.fields[name])) }}</td><td>{{ num(gap) }}</td></tr>{% endfor %}</table>{% endif %}
{% if g.draft_right is defined %}<h3>Confidence <span class="muted">(out of sample: cross-fitted on this gold)</span></h3>
<table class="confidence"><tr><th class="l">field</th><th>n</th><th class="l">signal</th><th>AUROC</th><th>ECE before</th>
<th>ECE after</th><th>Brier before</th><th>Brier after</th></tr>
{% for name, f in g.fields.items() %}{% for label, c in [(None, f.calibration)] + (g.calibration_per_label.get(name, {})|dictsort) %}
<tr><td class="l">{% if label %}&nbsp;&nbsp;{{ name }} · {{ label }}{% else %}{{ name }}{% endif %}</td><td>{{ c.n }}</td>
<td class="l">{{ c.signal }}</td><td>{{ num(c.auroc) }}</td><td>{{ num(c.ece_before) }}</td><td>{{ num(c.ece_after) }}</td>
<td>{{ num(c.brier_before) }}</td><td>{{ num(c.brier_after) }}</td></tr>{% endfor %}{% endfor %}
<tr><td class="l">whole draft</td><td>{{ g.annotations }}</td><td class="l">product of the fields</td>
<td>{{ num(g.draft_right.auroc) }}</td><td></td><td>{{ num(g.draft_right.ece_after) }}</td><td></td><td></td></tr></table>
<p class="muted">ECE over 10 equal-count bins. Fewer than {{ min_items }} items (or fewer tasks than folds) keep the raw
signal: the figures after repeat those before.</p>{% endif %}
{% for name, f in g.fields.items() %}
<h3>{{ name }} <span class="muted">({{ f.kind }})</span></h3>
{% if f.kind == "spans" %}
<table><tr><th class="l">matching</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th><th>F1</th></tr>
{% for m in ("exact", "overlap") %}<tr><td class="l">{{ m }}</td><td>{{ f[m].tp }}</td><td>{{ f[m].fp }}</td><td>{{ f[m].fn }}</td>
<td>{{ num(f[m].precision) }}</td><td>{{ num(f[m].recall) }}</td><td>{{ num(f[m].f1) }}</td></tr>{% endfor %}</table>
<p class="muted">errors: {{ f.errors.wrong_label }} wrong label, {{ f.errors.wrong_boundary }} wrong boundary,
{{ f.errors.missed }} missed, {{ f.errors.invented }} invented</p>
{% for label, s in f.per_label.items() %}<div class="bar"><span class="name">{{ label }}</span>
<span class="track"><div class="fill" style="width: {{ (s.f1 * 100)|round(1) }}%"></div></span>
<span>F1 {{ num(s.f1) }} <span class="muted">(overlap {{ num(f.per_label_overlap[label].f1) }})</span></span></div>{% endfor %}
{% elif f.kind == "relations" %}
<table><tr><th class="l">matching</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th><th>F1</th></tr>
{% for m in ("exact", "unlabelled") %}<tr><td class="l">{{ m }}</td><td>{{ f[m].tp }}</td><td>{{ f[m].fp }}</td><td>{{ f[m].fn }}</td>
<td>{{ num(f[m].precision) }}</td><td>{{ num(f[m].recall) }}</td><td>{{ num(f[m].f1) }}</td></tr>{% endfor %}</table>
{% for label, s in f.per_label.items() %}<div class="bar"><span class="name">{{ label }}</span>
<span class="track"><div class="fill" style="width: {{ (s.f1 * 100)|round(1) }}%"></div></span><span>F1 {{ num(s.f1) }}</span></div>{% endfor %}
{% elif f.kind == "choice" %}
<p>accuracy <b>{{ num(f.accuracy) }}</b> over {{ f.n }}</p>
{% set cols = classes(f) %}<table><tr><th class="l">gold \\ draft</th>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for gold in cols %}<tr><th class="l">{{ gold }}</th>{% for c in cols %}{% set v = f.confusion.get(gold, {}).get(c, 0) %}
<td class="cell" style="background: {{ shade(v, f.n, gold == c) }}">{{ v or "" }}</td>{% endfor %}</tr>{% endfor %}</table>
{% elif f.kind == "choices" %}<p>exact set {{ num(f.exact_set_rate) }} over {{ f.n }}</p>
{% for label, s in f.per_label.items() %}<div class="bar"><span class="name">{{ label }}</span>
<span class="track"><div class="fill" style="width: {{ (s.f1 * 100)|round(1) }}%"></div></span><span>F1 {{ num(s.f1) }}</span></div>{% endfor %}
{% elif f.kind == "text" %}<p>exact {{ num(f.exact_rate) }}, mean similarity {{ num(f.mean_similarity) }} over {{ f.n }}</p>
{% else %}<p>exact {{ num(f.exact_rate) }}, mean absolute error {{ num(f.mae) }} over {{ f.n }}</p>{% endif %}
{% set svg = chart(gi, name) %}{% if svg %}<p class="muted">Reliability of the confidence: 10 equal-count bins (a
point's area and number: its items).</p>{{ svg|safe }}{% endif %}
{% endfor %}{% endfor %}
{% if not groups %}<p>No gold annotation has a draft to compare with yet: push, annotate, pull, then run again.</p>{% endif %}
</body></html>
"""


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _shade(count: int, total: int, diagonal: bool) -> str:
    if not count or not total:
        return "transparent"
    strength = 0.15 + 0.75 * count / total
    rgb = "47, 111, 219" if diagonal else "219, 68, 55"
    return f"rgba({rgb}, {strength:.2f})"


def _classes(field: dict) -> list[str]:
    return sorted({*field["confusion"], *(d for row in field["confusion"].values() for d in row)})


def render(report: dict, title: str, subtitle: str, reliability: list[dict] | None = None) -> str:
    """The HTML page for an `eval` report; `reliability` (one dict a group, field -> {"before", "after"} bins)
    adds each field's reliability diagram."""
    from ..confidence.calibration import MIN_ITEMS
    from .charts import reliability_svg
    from .compare import headline_figure

    def chart(group: int, name: str) -> str:
        bins = (reliability or [])[group].get(name) if reliability else None
        return reliability_svg(name, bins["before"], bins["after"]) if bins else ""

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_PAGE).render(
        groups=report["groups"], title=title, subtitle=subtitle, num=_num, pct=lambda v: f"{v * 100:.0f}%",
        shade=_shade, classes=_classes, headline=headline_figure, chart=chart, min_items=MIN_ITEMS)
