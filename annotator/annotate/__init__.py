"""Draft annotations: pending sentences -> LLM -> validated, grounded drafts in SQLite.

    jobs.py           which sentences are pending, and what each is sent with (context, examples)
    drafter.py        one sentence: the cache, the LLM, a bounded re-ask with the validation error, grounding
    loop.py           many requests in flight on one event loop, finished as they come
    prepare.py        a run's set-up, once for annotate, --batch and serve's /predict: RunOptions, prepare_run
    run.py            a run from start to report; each finished draft stored at once (`annotate`)
    writes.py         storing drafts, one transaction each; nothing paid for is lost when the database is busy
    estimate.py       pure: what a run will cost before it runs (prompts in tokens, completions, prices)
    estimate_edge.py  the estimate's edge: the pending sentences' real prompts, drafts so far, a tokenizer
    batch.py          annotate --batch: the pending sentences through the Batch API, stored as online drafts are
    batch_api.py      the OpenAI Batch API: upload a request file, create, poll, read the results
    batch_store.py    batches and their requests in SQLite (migration 007_batches)

`annotate` is the entry point; `RunOptions` says how a run goes. What talks to the LLM
server (the client, the response cache, the rate limits) is `annotator.llm`.
"""

from .prepare import RunOptions
from .run import RunReport, annotate

__all__ = ["RunOptions", "RunReport", "annotate"]
