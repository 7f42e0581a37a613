"""Draft annotations: pending sentences -> LLM -> validated, grounded drafts in SQLite.

`jobs` says which sentences are pending and with what context, `drafter` drafts one
sentence (cache, LLM, re-ask, grounding), `run` drives a run with a bounded pool and
commits each draft as it finishes. `annotate` is the entry point.
"""

from .run import RunReport, annotate

__all__ = ["RunReport", "annotate"]
