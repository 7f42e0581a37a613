"""The Label Studio labeling config, generated from the schema's FieldSpecs.

Layout, top to bottom: a note that only headline tasks carry (`$sentence_note`),
the sentence to label (`<Text name="text">`, the first and largest text on the
page, span labels drawn on their highlights), the span label bars right under it,
then a muted block "Earlier in the article" with the headline (`$headline`) and the
preceding sentences (`$context`) and the next ones (`$context_after`), and one
block per other field under a short header (the field's `heading`). Long
descriptions go to the project's instructions (`labelstudio/page.py`); labels and
choices keep theirs as hover hints.

Labels and choices show their display names (`FieldSpec.display`) and store the
schema's values: a name that differs from its value is the tag's `value` and the
stored value its `alias`, which Label Studio writes into results, and which it and
the SDK read back. Every label and choice gets a fixed hotkey (`hotkeys`), in
Label Studio's own order, so the instructions can list them. Every value goes
through xml.etree, so `&`, `<` and quotes are escaped.

The sentence is the only object tag: Label Studio's import requires the data key of
every object tag, so the context is shown in `<Header>` tags, and a task imported by
hand with only `{"text": ...}` is accepted (its context block is empty).
"""

from __future__ import annotations

import colorsys
import itertools
import xml.etree.ElementTree as ET

from label_studio_sdk.label_interface import LabelInterface

from ..errors import InputError
from ..kinds import KINDS, REGION_KINDS, FieldSpec
from ..kinds.relations import relations_control
from ..schema import Schema

TEXT_NAME = "text"
"""Name of the `<Text>` object holding the sentence (every result's `to_name`)."""

CONTEXT_NAME = "context"
"""Task data key of the preceding sentences (optional: missing reads as empty)."""

RESERVED_NAMES = frozenset({TEXT_NAME, CONTEXT_NAME})

RELATIONS_KEY = "<Relations>"
"""`config_fields`' key for the labels of the config's relations."""

CONTROL_TYPES = {name: kind.result_type for name, kind in KINDS.items()}
"""Result item `type` for each field kind."""

CONTEXT_TITLE = "Earlier in the article"
AFTER_TITLE = "Next in the article"
AFTER_KEY = "context_after"
"""Task data key of the sentences after the one to label (optional: missing reads as empty)."""

HOTKEYS = "1234567890qwetasdfgzxcvbyiopjklnm"
"""Label Studio's own order for hotkeys it assigns (r, u and h are taken by the editor)."""

# Distinct, saturated backgrounds for span labels (white text on top; Label Studio tints highlights with
# them at 30%): no grey, which reads as a text selection. More are generated.
_PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6730f", "#8c564b", "#d6338a", "#0f8b8d",
    "#b8860b", "#393b79", "#637939", "#7b4173", "#17a2b8", "#ad494a", "#5254a3", "#e6550d",
)

_STYLE = """
.annotator-sentence { padding: 0.6em 0.8em; border: 1px solid #c8ccd4; border-radius: 6px; background: #fff; }
.annotator-sentence .lsf-richtext, .annotator-sentence .lsf-richtext__container { font-size: 24px; line-height: 2.2; }
.annotator-sentence .htx-highlight { margin: 0 2px; padding: 1px 0; border-radius: 3px; }
.annotator-sentence .htx-highlight[data-label]::after { font-size: 12px; font-family: inherit; }
.annotator-context { margin: 0.8em 0; padding: 0.4em 0.8em; border-left: 4px solid #d0d4da; background: #f6f7f9; }
.annotator-field { margin-top: 0.6em; }
"""
_FIELD_STYLE = "margin: 4px 0; font-size: 15px; font-weight: 600"
_TITLE_STYLE = "margin: 6px 0 2px 0; font-size: 11px; letter-spacing: 0.06em; text-transform: uppercase; color: #6b7280"
_NOTE_STYLE = "margin: 0 0 4px 0; font-size: 13px; font-weight: 700; letter-spacing: 0.06em; text-transform: uppercase"
_AFTER_STYLE = "margin: 2px 0; font-size: 14px; font-weight: 400; color: #5f6670"


def label_colour(index: int) -> str:
    """The background colour of the index-th span label (distinct across the whole config)."""
    if index < len(_PALETTE):
        return _PALETTE[index]
    # Golden-angle hue steps keep generated colours apart.
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.42, 0.65)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def layout_order(schema: Schema) -> list[FieldSpec]:
    """The fields in the order the page shows them: span and relation fields (under the sentence) first."""
    regions = [s for s in schema.fields if s.kind in REGION_KINDS]
    return regions + [s for s in schema.fields if s.kind not in REGION_KINDS]


def hotkeys(schema: Schema) -> dict[tuple[str, str], str]:
    """(field, stored label) -> its hotkey, for every label and choice in page order, while keys last."""
    pairs = [(spec.name, label) for spec in layout_order(schema) if spec.codec.result_type in ("labels", "choices")
             for label in spec.labels]
    return {pair: key for pair, key in zip(pairs, HOTKEYS, strict=False)}


def _check(schema: Schema) -> None:
    """Refuse schemas that cannot be shown: reserved names, empty, repeated or ambiguous values."""
    for spec in schema.fields:
        if spec.name in RESERVED_NAMES:
            raise InputError(
                f"schema {schema.name}: field name {spec.name!r} is reserved for the Label Studio view "
                f"(the objects {sorted(RESERVED_NAMES)}); rename the field"
            )
        if spec.codec.result_type in ("labels", "choices"):
            if not spec.labels:
                raise InputError(f"schema {schema.name}: field {spec.name!r} has no labels; add enum values")
            if len(set(spec.labels)) != len(spec.labels) or any(not v for v in spec.labels):
                raise InputError(
                    f"schema {schema.name}: field {spec.name!r} has empty or repeated label values; "
                    "make every value distinct and non-empty"
                )
            names = [spec.display(v) for v in spec.labels]
            clash = [n for v, n in zip(spec.labels, names, strict=True)
                     if names.count(n) > 1 or (n != v and n in spec.labels)]
            if clash:
                raise InputError(
                    f"schema {schema.name}: field {spec.name!r} shows {clash[0]!r} for more than one value; "
                    "give each value its own name in json_schema_extra 'label_names'"
                )


def _set_hotkeys(view: ET.Element, keys: dict[tuple[str, str], str]) -> None:
    """Give every Label and Choice its hotkey."""
    for control in view.iter():
        if control.tag not in ("Labels", "Choices"):
            continue
        for item in control:
            key = keys.get((control.get("name") or "", item.get("alias") or item.get("value") or ""))
            if key:
                item.set("hotkey", key)


def label_config(schema: Schema) -> str:
    """The labeling config XML for `schema`, validated locally with LabelInterface.

    Task data keys it reads: `text` (the sentence, the one key Label Studio requires),
    `headline`, `context`, `sentence_note` and `context_after` (optional: missing reads
    as empty). Control names are the schema's field names.
    """
    _check(schema)
    view = ET.Element("View")
    ET.SubElement(view, "Style").text = _STYLE
    ET.SubElement(view, "Header", value="$sentence_note", size="5", style=_NOTE_STYLE)
    sentence = ET.SubElement(view, "View", className="annotator-sentence")
    ET.SubElement(sentence, "Text", name=TEXT_NAME, value="$text", showLabels="true")
    colours = (label_colour(i) for i in itertools.count())
    fields = layout_order(schema)
    # Span label bars sit right under the sentence: press a label's key (or click it), then drag over words.
    # A relation field's ends have a bar of their own; its relations' labels are the one <Relations> block.
    for spec in (s for s in fields if s.kind in REGION_KINDS):
        block = ET.SubElement(view, "View", className="annotator-field")
        ET.SubElement(block, "Header", value=spec.heading, size="5", style=_FIELD_STYLE)
        block.append(spec.codec.control(spec, TEXT_NAME, colours))
    relations = relations_control(fields)
    if relations is not None:
        view.append(relations)
    context = ET.SubElement(view, "View", className="annotator-context")
    ET.SubElement(context, "Header", value=CONTEXT_TITLE, size="5", style=_TITLE_STYLE)
    ET.SubElement(context, "Header", value="$headline", size="5", style="margin: 2px 0; font-size: 15px")
    ET.SubElement(context, "Header", value=f"${CONTEXT_NAME}", size="5", style=_AFTER_STYLE)
    ET.SubElement(context, "Header", value=AFTER_TITLE, size="5", style=_TITLE_STYLE)
    ET.SubElement(context, "Header", value=f"${AFTER_KEY}", size="5", style=_AFTER_STYLE)
    for spec in (s for s in fields if s.kind not in REGION_KINDS):
        block = ET.SubElement(view, "View", className="annotator-field")
        ET.SubElement(block, "Header", value=spec.heading, size="5", style=_FIELD_STYLE)
        block.append(spec.codec.control(spec, TEXT_NAME, colours))
    _set_hotkeys(view, hotkeys(schema))
    ET.indent(view, space="  ")
    xml = ET.tostring(view, encoding="unicode")
    validate_config(xml)
    return xml


def config_fields(xml: str) -> dict[str, tuple]:
    """name -> (tag, targets, stored labels, several answers?) of every control: what results depend on.

    Two configs with the same fields hold the same annotations, however they look
    (display names, colours, hotkeys, layout, radio buttons or checkboxes for one answer).
    """
    interface = validate_config(xml)
    fields = {c.name: (c.tag.lower(), tuple(c.to_name or ()), tuple(sorted(getattr(c, "labels", None) or ())),
                       c.attr.get("choice") == "multiple") for c in interface.controls}
    relation_labels = sorted(r.get("value") or "" for r in ET.fromstring(xml).iter("Relation"))
    if relation_labels:  # <Relations> is no control (it has no name): its labels count all the same
        fields[RELATIONS_KEY] = ("relations", (), tuple(relation_labels), False)
    return fields


def validate_config(xml: str) -> LabelInterface:
    """Parse and validate a labeling config locally; InputError with the reason if it is wrong."""
    try:
        interface = LabelInterface(xml)
        interface.validate()
    except Exception as exc:  # the SDK raises several unrelated exception types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"the generated Label Studio config is invalid ({reason}); check the schema's labels") from exc
    return interface
