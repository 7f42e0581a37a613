"""Load annotation schemas and describe their fields; one schema drives everything."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .errors import InputError
from .hashing import content_hash
from .kinds import RELATIONS, SPAN_LABEL, SPANS, FieldSpec, field_spec
from .resources import resource_dir

KIND_HELP = ("spans (list of a model with text and an enum label)",
             f"relations (list of a model with two str ends marked json_schema_extra {{'{SPAN_LABEL}': LABEL}} "
             "and one enum label)", "enum/Literal", "list[enum]", "str",
             "int", "float", "bool")


@dataclass(frozen=True)
class Schema:
    """A loaded schema: the pydantic model and what is derived from it."""

    name: str
    model: type[BaseModel]
    fields: tuple[FieldSpec, ...]
    ref: str = ""
    """What `load_schema` loads it from again: a built-in name, an absolute .py path, or module:Model."""

    @functools.cached_property
    def json_schema(self) -> dict[str, Any]:
        """The model's JSON schema, as pydantic writes it (computed once: it is used per draft)."""
        return self.model.model_json_schema()

    @functools.cached_property
    def hash(self) -> str:
        """Stable identity: a hash of the JSON schema (with ASCII escapes, as first written: `hashing`)."""
        return content_hash(self.json_schema, length=12, ascii=True)

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

    def relation_fields(self) -> list[FieldSpec]:
        """Fields holding relations between spans of the sentence."""
        return [f for f in self.fields if f.kind == RELATIONS]


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
            elif key not in ("$defs", "labels", "label_names", "title", "default", SPAN_LABEL):
                out[key] = walk(value)
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    return walk(schema)


def describe(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """FieldSpecs for every top-level field; a field no kind takes is an error."""
    specs = []
    for name, info in model.model_fields.items():
        spec = field_spec(name, info)
        if spec is None:
            raise InputError(
                f"schema {model.__name__}: field {name!r} has type {typing.get_type_hints(model).get(name)!r}, "
                f"which has no annotation kind; use one of: {', '.join(KIND_HELP)}"
            )
        specs.append(spec)
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
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: a syntax error, a missing import, anything
        sys.modules.pop(mod_name, None)
        raise InputError(f"schema file {path} failed to load ({_one_line(exc)}); fix the file") from exc
    return module


def _one_line(exc: BaseException) -> str:
    """An exception as `Type: message` on one line, with the line number of a syntax error."""
    where = f" at line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
    text = " ".join(str(exc.msg if isinstance(exc, SyntaxError) else exc).split())
    return f"{type(exc).__name__}{where}: {text}"


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
        return Schema(path.stem, model, describe(model), str(path.resolve()))
    builtin = resource_dir("schemas") / f"{ref}.py"
    if builtin.is_file():
        model = _model_from_module(_load_file(builtin), ref)
        return Schema(ref, model, describe(model), ref)
    if "." in ref or ":" in ref:
        mod_path, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(mod_path)
        except ImportError as exc:
            raise InputError(f"cannot import schema module {mod_path!r} ({exc}); check PYTHONPATH") from exc
        except Exception as exc:
            raise InputError(f"schema module {mod_path!r} failed to load ({_one_line(exc)}); fix it") from exc
        if attr and not hasattr(module, attr):
            raise InputError(f"schema module {mod_path!r} has no {attr!r}; check the name after the colon")
        model = getattr(module, attr) if attr else _model_from_module(module, ref)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InputError(f"{ref} is not a pydantic model class")
        return Schema(attr or mod_path.rsplit(".", 1)[-1], model, describe(model), ref)
    raise InputError(
        f"unknown schema {ref!r}; built-in schemas: {', '.join(available())}, or pass a .py file or module:Model"
    )
