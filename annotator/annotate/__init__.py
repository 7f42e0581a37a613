"""Draft annotations: pending sentences -> LLM -> validated, grounded drafts in SQLite.

`jobs` says which sentences are pending and with what context, `drafter` drafts one
sentence (cache, LLM, re-ask, grounding), `loop` keeps many requests in flight on one
event loop, `run` drives a run and commits each draft as it finishes (`cache`, `writes`).
`annotate` is the entry point.
"""

from .run import RunReport, annotate

__all__ = ["RunReport", "annotate"]
