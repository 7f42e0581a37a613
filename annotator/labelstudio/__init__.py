"""Label Studio: labeling config from the schema, result conversion, push/pull, the local server.

The public names below are loaded on first use, so importing `annotator.labelstudio.server`
(for `annotator labelstudio start`) does not pay for the SDK import (about a second).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "label_config": "config",
    "validate_config": "config",
    "interface_for": "config",
    "draft_to_result": "convert",
    "result_to_gold": "convert",
    "connect": "client",
    "push": "client",
    "pull": "client",
    "recorded_project": "client",
    "model_version_of": "client",
    "PushReport": "client",
    "PullReport": "client",
    "Project": "client",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
