"""Load annotation schemas and describe their fields; one schema drives everything."""

from __future__ import annotations

import enum
import functools
import hashlib
import importlib
import importlib.util
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from .errors import InputError
from .resources import resource_dir

SPANS, CHOICE, CHOICES, TEXT, NUMBER, BOOL = "spans", "choice", "choices", "text", "number", "bool"


@dataclass(frozen=True)
class FieldSpec:
    """What one top-level field of a schema is, for prompts, Label Studio and evaluation."""

    name: str
    kind: str
    description: str = ""
    labels: tuple[str, ...] = ()
    label_descriptions: dict[str, str] = field(default_factory=dict)
    required: bool = True
    integer: bool = False


@dataclass(frozen=True)
class Schema:
    """A loaded schema: the pydantic model and what is derived from it."""

    name: str
    model: type[BaseModel]
    fields: tuple[FieldSpec, ...]

    @functools.cached_property
    def json_schema(self) -> dict[str, Any]:
        """The model's JSON schema, as pydantic writes it (computed once: it is used per draft)."""
        return self.model.model_json_schema()

    @functools.cached_property
    def hash(self) -> str:
        """Stable identity: a hash of the JSON schema."""
        blob = json.dumps(self.json_schema, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def llm_json_schema(self) -> dict[str, Any]:
        """The JSON schema sent to the LLM: inlined, strict, without tool-only keys."""
        return strict_schema(self.json_schema)

    def field(self, name: str) -> FieldSpec:
        """The FieldSpec called `name`."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def span_fields(self) -> list[FieldSpec]:
        """Fields holding spans of the sentence."""
        return [f for f in self.fields if f.kind == SPANS]


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline $defs, drop our `labels` extra, and make every object closed and fully required."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = defs[node["$ref"].split("/")[-1]]
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged)
        out = {}
        for key, value in node.items():
            if key == "properties":
                # Property names are user data: keep every one, walk their schemas.
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key not in ("$defs", "labels", "title", "default"):
                out[key] = walk(value)
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    return walk(schema)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, is_optional) for `X | None` and `Optional[X]`."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _choice_values(tp: Any) -> tuple[str, ...] | None:
    """The allowed values of an enum or Literal type, else None."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tuple(str(m.value) for m in tp)
    if get_origin(tp) is Literal:
        return tuple(str(a) for a in get_args(tp))
    return None


def _span_model(tp: Any) -> type[BaseModel] | None:
    """The span model if `tp` is a pydantic model with `text: str` and an enum/Literal `label`."""
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return None
    fields = tp.model_fields
    if "text" not in fields or "label" not in fields:
        return None
    if fields["text"].annotation is not str or _choice_values(fields["label"].annotation) is None:
        return None
    return tp


def describe(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """FieldSpecs for every top-level field; unsupported field types are an error."""
    specs = []
    for name, info in model.model_fields.items():
        tp, optional = _unwrap_optional(info.annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        desc = info.description or ""
        required = info.is_required() and not optional
        origin = get_origin(tp)
        if origin is list:
            (item,) = get_args(tp) or (Any,)
            span = _span_model(item)
            if span is not None:
                label_info = span.model_fields["label"]
                label_extra = label_info.json_schema_extra if isinstance(label_info.json_schema_extra, dict) else {}
                labels = _choice_values(label_info.annotation) or ()
                specs.append(FieldSpec(name, SPANS, desc, labels, dict(label_extra.get("labels", {})), required))
                continue
            values = _choice_values(item)
            if values is not None:
                specs.append(FieldSpec(name, CHOICES, desc, values, dict(extra.get("labels", {})), required))
                continue
        elif (values := _choice_values(tp)) is not None:
            specs.append(FieldSpec(name, CHOICE, desc, values, dict(extra.get("labels", {})), required))
            continue
        elif tp is bool:
            specs.append(FieldSpec(name, BOOL, desc, ("true", "false"), {}, required))
            continue
        elif tp is str:
            specs.append(FieldSpec(name, TEXT, desc, (), {}, required))
            continue
        elif tp in (int, float):
            specs.append(FieldSpec(name, NUMBER, desc, (), {}, required, integer=tp is int))
            continue
        raise InputError(
            f"schema {model.__name__}: field {name!r} has type {typing.get_type_hints(model).get(name)!r}, "
            "which has no annotation kind; use spans, enum/Literal, list[enum], str, int, float or bool"
        )
    return tuple(specs)


def _model_from_module(module: types.ModuleType, origin: str) -> type[BaseModel]:
    """The module's `SCHEMA`, or its only pydantic model defined there."""
    model = getattr(module, "SCHEMA", None)
    if model is None:
        found = [
            v for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == module.__name__
        ]
        if len(found) != 1:
            raise InputError(f"{origin}: set SCHEMA = <your pydantic model> in the module to name the schema")
        model = found[0]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise InputError(f"{origin}: SCHEMA is not a pydantic model class")
    return model


def _load_file(path: Path) -> types.ModuleType:
    """Import a Python file as a module."""
    mod_name = f"annotator_schema_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import schema file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def available() -> list[str]:
    """Names of the built-in schemas."""
    return sorted(p.stem for p in resource_dir("schemas").glob("*.py") if not p.stem.startswith("_"))


def load_schema(ref: str = "news_events") -> Schema:
    """Load a schema by built-in name, by file path, or by dotted path `module:Model`."""
    path = Path(ref)
    if ref.endswith(".py") or path.is_file():
        if not path.is_file():
            raise InputError(f"schema file {ref} not found; check the path")
        model = _model_from_module(_load_file(path), str(path))
        return Schema(path.stem, model, describe(model))
    builtin = resource_dir("schemas") / f"{ref}.py"
    if builtin.is_file():
        model = _model_from_module(_load_file(builtin), ref)
        return Schema(ref, model, describe(model))
    if "." in ref or ":" in ref:
        mod_path, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(mod_path)
        except ImportError as exc:
            raise InputError(f"cannot import schema module {mod_path!r} ({exc}); check PYTHONPATH") from exc
        model = getattr(module, attr) if attr else _model_from_module(module, ref)
        return Schema(attr or mod_path.rsplit(".", 1)[-1], model, describe(model))
    raise InputError(
        f"unknown schema {ref!r}; built-in schemas: {', '.join(available())}, or pass a .py file or module:Model"
    )
