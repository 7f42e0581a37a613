"""LLM pre-annotation with Label Studio review and SQLite storage.

From Python (`api.py`; the README's "From Python" shows the whole loop):

    import annotator
    ws = annotator.Workspace("annotator.db")
    ws.ingest("reports/")
    ws.annotate(annotator.LLM(model="gpt-4o-mini"), annotator.DraftOptions(concurrency=8))
    ws.push("Conflict news"); ws.pull("Conflict news")
    ws.evaluate("Conflict news")

The flow, one module or package per step:

    readers.py      documents from .txt, .jsonl and .csv files, folders and stdin
    ingest.py       documents split into sentences with offsets, stored
    boilerplate.py  copyright lines, bylines, datelines: kept, marked, neither drafted nor pushed
    context.py      a sentence's context, by one rule: the headline and the sentences around it
    examples.py     worked examples retrieved from gold for the prompt
    annotate/       pending sentences -> LLM -> validated, grounded drafts in SQLite
    labelstudio/    the labeling config, push of drafts, pull of gold
    backend/        Label Studio's ML backend and webhooks (`annotator serve`)
    evaluate/       drafts against gold, annotators against each other
    confidence/     how far each draft can be trusted, calibrated on gold
    export/         the gold as training data

What the steps share:

    schema.py       schemas loaded and described; one schema drives everything
    kinds/          field kinds: how a field is recognised, and its Label Studio codec
    spans.py        span texts grounded to offsets; Python and UTF-16 offsets
    prompts.py      versioned prompt templates rendered into chat messages
    llm/            the LLM edge: the client, its errors, modes, replies, the response cache, rate limits
    hashing.py      canonical JSON and the hashes made of it (stored ids and keys)
    gold.py         which gold counts on a task (ground truth, majority, newest), and the rule that decided
    store.py        SQLite storage and its append-only migrations
    locks.py        one writer at a time per database and piece of work
    settings.py     flags, then environment, then defaults; the tool's directories
    endpoints.py    which LLM server and which Label Studio to use
    resources.py    the shipped schemas/ and prompts/ folders
    errors.py       one error base class, shown as one `Error: ...` line
    status.py       the counts `annotator status` shows
    demo.py         the whole loop on the sample article, from nothing
    data/           the sample article
    services/       the managed Label Studio and llama.cpp servers
    api.py          the Python API: Workspace and each step's options as one typed value
    cli/            the commands, by group
    __main__.py     `python -m annotator`
"""

__version__ = "0.1.0"
_API = ("LLM", "DraftOptions", "Evaluation", "ExportOptions", "PushOptions", "Workspace")


def __getattr__(name: str):
    """The Python API's names, loaded on first use (importing a submodule loads nothing more)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'annotator' has no attribute {name!r}")


__all__ = ["LLM", "DraftOptions", "Evaluation", "ExportOptions", "PushOptions", "Workspace", "__version__"]
