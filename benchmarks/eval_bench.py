"""Benchmark: `eval` and `agreement` over N gold rows (default 100,000), time and peak RSS, one process each.

    python -m benchmarks.eval_bench --rows 100000          # prints one JSON line per measurement

The database is synthetic but shaped as push and pull write it: N/2 sentences, one
ok draft each pushed as a prediction (with its Label Studio prediction id), and two
annotators per task whose gold starts from the draft and changes about one span in
three. Each measurement runs in a fresh child process so the peak RSS is its own.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LABELS = ("PERSON", "ORG", "ARMED_GROUP", "LOCATION", "DATETIME")
EVENTS = ("battle", "protest", "riot", "none")


def _spans(rng: random.Random, text_len: int) -> list[dict]:
    out, pos = [], 0
    while pos + 8 < text_len and len(out) < 4:
        start = pos + rng.randint(0, 6)
        end = start + rng.randint(3, 8)
        out.append({"field": "entities", "label": rng.choice(LABELS), "start": start, "end": end,
                    "text": "x" * (end - start)})
        pos = end + 1
    return out


def _edit(rng: random.Random, spans: list[dict]) -> list[dict]:
    out = []
    for s in spans:
        roll = rng.random()
        if roll < 0.1:
            continue
        if roll < 0.2:
            s = {**s, "label": rng.choice(LABELS)}
        elif roll < 0.3:
            s = {**s, "end": s["end"] + 1, "text": s["text"] + "x"}
        out.append(s)
    return out


def build(path: Path, rows: int) -> None:
    """Write the synthetic database (sentences, drafts, project, tasks, predictions, gold)."""
    from annotator.store import dumps, open_db

    rng = random.Random(7)
    db = open_db(path)
    n = rows // 2
    version = "bench|news_events.v1|h"
    with db.conn:
        db.execute("INSERT INTO documents (id, text) VALUES ('doc', 'x')")
        db.execute("INSERT INTO projects (id, ls_id, name, url, schema_name, schema_hash, model_version) VALUES "
                   "('p', 1, 'bench', 'http://127.0.0.1:1', 'news_events', ?, ?)", [_hash(), version])
        sentences, drafts, tasks, predictions, gold = [], [], [], [], []
        for i in range(n):
            sid = f"s{i}"
            spans = _spans(rng, 60)
            event = rng.choice(EVENTS)
            data = {"entities": [{"text": s["text"], "label": s["label"]} for s in spans], "event_type": event,
                    "attribution": "asserted", "sources": []}
            sentences.append((sid, "doc", i, 0, 60, "x" * 60, 0))
            drafts.append((f"d{i}", sid, "news_events", _hash(), "news_events.v1", "bench", "ok", dumps(data),
                           dumps(spans), "r"))
            tasks.append(("p", sid, i + 1))
            predictions.append(("p", f"d{i}", i + 1, version, 100_000 + i))
            for who in ("a@x", "b@x"):
                g_spans = _edit(rng, spans)
                g_event = event if rng.random() < 0.8 else rng.choice(EVENTS)
                g_data = {**data, "entities": [{"text": s["text"], "label": s["label"]} for s in g_spans],
                          "event_type": g_event}
                gold.append((f"g{i}{who}", "p", i + 1, sid, len(gold) + 1, who, "ok", "news_events", _hash(),
                             dumps(g_data), dumps(g_spans), rng.uniform(5, 60), 0, "2026-01-01", "2026-01-01",
                             100_000 + i))
        db.conn.executemany("INSERT INTO sentences (id, document_id, idx, start, \"end\", text, is_headline) "
                            "VALUES (?,?,?,?,?,?,?)", sentences)
        db.conn.executemany("INSERT INTO drafts (id, sentence_id, schema_name, schema_hash, prompt_version, model, "
                            "status, data, spans, run_key) VALUES (?,?,?,?,?,?,?,?,?,?)", drafts)
        db.conn.executemany("INSERT INTO tasks (project_id, sentence_id, task_id) VALUES (?,?,?)", tasks)
        db.conn.executemany("INSERT INTO predictions (project_id, draft_id, task_id, model_version, ls_prediction_id)"
                            " VALUES (?,?,?,?,?)", predictions)
        db.conn.executemany("INSERT INTO gold (id, project_id, task_id, sentence_id, annotation_id, annotator, status,"
                            " schema_name, schema_hash, data, spans, lead_time, ground_truth, created_at, updated_at,"
                            " parent_prediction) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", gold)


@functools.cache
def _hash() -> str:
    from annotator.schema import load_schema

    return load_schema("news_events").hash


def measure(path: Path, what: str) -> dict:
    """Run one command's library call in this process; time and peak RSS."""
    from annotator.evaluate.agreement import agreement
    from annotator.evaluate.compare import evaluate
    from annotator.evaluate.load import agreement_annotations, eval_pairs
    from annotator.schema import load_schema
    from annotator.store import open_db

    schema = load_schema("news_events")
    db = open_db(path)
    started = time.perf_counter()
    if what == "eval":
        report = evaluate(schema.fields, eval_pairs(db, schema, gold="all"))
        count = report["groups"][0]["annotations"]
    else:
        (_, annotations), = list(agreement_annotations(db, schema))
        report = agreement(schema.fields, annotations)
        count = report["tasks"]
    seconds = time.perf_counter() - started
    return {"benchmark": what, "rows": count, "seconds": round(seconds, 2), "peak_rss_mb": round(_peak_mb(), 1)}


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(rows: int) -> list[dict]:
    """Build once, then measure eval and agreement each in a fresh child process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eval.db"
        started = time.perf_counter()
        build(path, rows)
        built = time.perf_counter() - started
        out = []
        for what in ("eval", "agreement"):
            line = subprocess.run([sys.executable, "-m", "benchmarks.eval_bench", "--measure", what, "--db", str(path)],
                                  check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
            out.append({**json.loads(line), "build_seconds": round(built, 1)})
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--measure", choices=("eval", "agreement"))
    ap.add_argument("--db")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.db), args.measure)))
        return
    for result in run(args.rows):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
