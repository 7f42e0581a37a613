"""The Label Studio labeling config, generated from the schema's FieldSpecs.

Layout, top to bottom: the document headline (`$headline`) and the preceding
sentences (`$context`, a read-only `<Text>` no control targets), the sentence to
label (`<Text name="text">`), then one control per schema field, each under a small
header carrying the field's description. Label and choice descriptions become
`hint` attributes (shown on hover). Every value goes through xml.etree, so `&`, `<`
and quotes in labels or descriptions are escaped.
"""

from __future__ import annotations

import colorsys
import itertools
import xml.etree.ElementTree as ET

from label_studio_sdk.label_interface import LabelInterface

from ..errors import InputError
from ..kinds import KINDS, SPANS, FieldSpec
from ..schema import Schema

TEXT_NAME = "text"
"""Name of the `<Text>` object holding the sentence (every result's `to_name`)."""

CONTEXT_NAME = "context"
"""Name of the read-only `<Text>` showing the preceding sentences."""

RESERVED_NAMES = frozenset({TEXT_NAME, CONTEXT_NAME})

CONTROL_TYPES = {name: kind.result_type for name, kind in KINDS.items()}
"""Result item `type` for each field kind."""

# Distinct, readable backgrounds for span labels (white text on top); more are generated.
_PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d",
)


def label_colour(index: int) -> str:
    """The background colour of the index-th span label (distinct across the whole config)."""
    if index < len(_PALETTE):
        return _PALETTE[index]
    # Golden-angle hue steps keep generated colours apart.
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.42, 0.65)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _field_header(spec: FieldSpec) -> str:
    """The small header above a control: the field name and its description."""
    title = spec.name.replace("_", " ")
    return f"{title}: {spec.description}" if spec.description else title


def _check(schema: Schema) -> None:
    """Refuse schemas that cannot be shown: reserved names, empty or repeated values."""
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


def label_config(schema: Schema) -> str:
    """The labeling config XML for `schema`, validated locally with LabelInterface.

    Task data keys it reads: `text` (the sentence), `headline` and `context` (may be
    empty strings). Control names are the schema's field names.
    """
    _check(schema)
    view = ET.Element("View")
    intro = ET.SubElement(view, "View", style="margin-bottom: 0.5em")
    ET.SubElement(intro, "Header", value="$headline", size="5")
    ET.SubElement(intro, "Text", name=CONTEXT_NAME, value="$context", selectionEnabled="false")
    sentence = ET.SubElement(view, "View", style="padding: 0.5em; border: 1px solid #ccc; border-radius: 4px")
    colours = (label_colour(i) for i in itertools.count())
    # Span label bars sit right above the sentence, the way Label Studio's NER templates do.
    for spec in schema.fields:
        if spec.kind == SPANS:
            ET.SubElement(sentence, "Header", value=_field_header(spec), size="6")
            sentence.append(spec.codec.control(spec, TEXT_NAME, colours))
    ET.SubElement(sentence, "Text", name=TEXT_NAME, value="$text")
    for spec in schema.fields:
        if spec.kind != SPANS:
            block = ET.SubElement(view, "View", style="margin-top: 0.5em")
            ET.SubElement(block, "Header", value=_field_header(spec), size="6")
            block.append(spec.codec.control(spec, TEXT_NAME, colours))
    ET.indent(view, space="  ")
    xml = ET.tostring(view, encoding="unicode")
    validate_config(xml)
    return xml


def validate_config(xml: str) -> LabelInterface:
    """Parse and validate a labeling config locally; InputError with the reason if it is wrong."""
    try:
        interface = LabelInterface(xml)
        interface.validate()
    except Exception as exc:  # the SDK raises several unrelated exception types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"the generated Label Studio config is invalid ({reason}); check the schema's labels") from exc
    return interface
