"""Benchmark: `export` of N gold sentences (default 100,000) in each format, time and peak RSS, one process each.

    python -m benchmarks.export_bench --sentences 100000     # prints one JSON line per measurement

The database is synthetic but shaped as push and pull write it: documents of ten
wire-news sentences, one ok draft per sentence pushed as a prediction, and one
submitted annotation per task whose spans are real mentions (entities, sources)
with their offsets, and about one in twenty cut inside a word so the token checks
have work to do. Each measurement runs in a fresh child process so the peak RSS is
its own.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLACES = ["Mora", "Port Selva", "Valdora", "Kessa", "Doran", "Kharkiv 🇺🇦", "Ashfall", "Caldera Bay"]
GROUPS = ["the army", "rebel fighters", "the Northern Liberation Front", "police", "a local militia"]
SOURCES = ["a local official", "the governor", "the defence ministry", "witnesses", "a spokesman"]
TEMPLATE = "{g} attacked a checkpoint near {p} on Sunday, killing at least {n} people, {s} said."
EVENTS = ("battle", "explosion_remote_violence", "violence_against_civilians", "none")
MEASURES = ("jsonl", "spacy", "conll", "hf", "labelstudio", "jsonl-document", "jsonl-majority")
PER_DOC = 10


def _sentence(rng: random.Random) -> tuple[str, list[dict]]:
    """A sentence and its spans (entities and one source) with exact offsets."""
    parts = {"g": rng.choice(GROUPS), "p": rng.choice(PLACES), "n": str(rng.randint(2, 99)),
             "s": rng.choice(SOURCES)}
    text = TEMPLATE.format(**parts)
    text = text[0].upper() + text[1:]
    spans = []
    for key, field, label in (("g", "entities", "ARMED_GROUP"), ("p", "entities", "LOCATION"),
                              ("s", "sources", "SOURCE")):
        start = text.lower().index(parts[key].lower())
        end = start + len(parts[key]) - (1 if rng.random() < 0.05 else 0)  # now and then cut inside a word
        spans.append({"field": field, "label": label, "text": text[start:end], "start": start, "end": end})
    return text, spans


def build(path: Path, n: int) -> None:
    """Write the synthetic database: documents, sentences, drafts, project, tasks, predictions, gold."""
    from annotator.schema import load_schema
    from annotator.store import dumps, open_db

    schema = load_schema("news_events")
    rng = random.Random(11)
    db = open_db(path)
    version = f"bench|news_events.v1|{schema.hash}"
    rows: dict[str, list] = {"documents": [], "sentences": [], "drafts": [], "tasks": [], "predictions": [],
                             "gold": []}
    for d in range(0, n, PER_DOC):
        texts, starts, pos = [], [], 0
        for i in range(d, min(d + PER_DOC, n)):
            text, spans = _sentence(rng)
            texts.append(text)
            starts.append(pos)
            pos += len(text) + 2
            data = {"entities": [{"text": s["text"], "label": s["label"]} for s in spans if s["field"] == "entities"],
                    "event_type": rng.choice(EVENTS), "attribution": "claimed",
                    "sources": [{"text": s["text"], "label": "SOURCE"} for s in spans if s["field"] == "sources"]}
            sid = f"s{i}"
            rows["sentences"].append((sid, f"doc{d}", i - d, starts[-1], starts[-1] + len(text), text, 0))
            rows["drafts"].append((f"d{i}", sid, "news_events", schema.hash, "news_events.v1", "bench", "ok",
                                   dumps(data), dumps(spans), "r", "2026-01-01"))
            rows["tasks"].append(("p", sid, i + 1))
            rows["predictions"].append(("p", f"d{i}", i + 1, version, 100_000 + i))
            rows["gold"].append((f"g{i}", "p", i + 1, sid, i + 1, "a@x", "ok", "news_events", schema.hash,
                                 dumps(data), dumps(spans), 0, "2026-01-02", "2026-01-02", 100_000 + i))
        rows["documents"].append((f"doc{d}", "\r\n".join(texts)))
    with db.conn:
        db.execute("INSERT INTO projects (id, ls_id, name, url, schema_name, schema_hash, model_version) VALUES "
                   "('p', 1, 'bench', 'http://127.0.0.1:1', 'news_events', ?, ?)", [schema.hash, version])
        db.conn.executemany("INSERT INTO documents (id, text) VALUES (?,?)", rows["documents"])
        db.conn.executemany("INSERT INTO sentences (id, document_id, idx, start, \"end\", text, is_headline) "
                            "VALUES (?,?,?,?,?,?,?)", rows["sentences"])
        db.conn.executemany("INSERT INTO drafts (id, sentence_id, schema_name, schema_hash, prompt_version, model, "
                            "status, data, spans, run_key, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            rows["drafts"])
        db.conn.executemany("INSERT INTO tasks (project_id, sentence_id, task_id) VALUES (?,?,?)", rows["tasks"])
        db.conn.executemany("INSERT INTO predictions (project_id, draft_id, task_id, model_version, "
                            "ls_prediction_id) VALUES (?,?,?,?,?)", rows["predictions"])
        db.conn.executemany("INSERT INTO gold (id, project_id, task_id, sentence_id, annotation_id, annotator, "
                            "status, schema_name, schema_hash, data, spans, ground_truth, created_at, updated_at, "
                            "parent_prediction) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows["gold"])


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(db_path: Path, what: str, out_dir: Path) -> dict:
    """One export in this process: time (imports excluded), peak RSS, output size."""
    from annotator.export import export
    from annotator.schema import load_schema
    from annotator.store import open_db

    fmt, _, variant = what.partition("-")
    if fmt in ("spacy", "conll"):
        import spacy  # noqa: F401 - imported before the clock starts, like the CLI's first use
    if fmt == "hf":
        import datasets  # noqa: F401
    schema, db = load_schema("news_events"), open_db(db_path)
    out = out_dir / f"out-{what}"
    started = time.perf_counter()
    report = export(db, schema, fmt, out, level="document" if variant == "document" else "sentence",
                    gold="majority" if variant == "majority" else "latest")
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.rglob("*")) if out.is_dir() else out.stat().st_size
    return {"benchmark": f"export {what}", "sentences": report.sentences, "seconds": round(seconds, 2),
            "peak_rss_mb": round(_peak_mb(), 1), "output_mb": round(size / 2**20, 1),
            "misaligned": report.misaligned}


def run(n: int, only: list[str]) -> list[dict]:
    """Build once, then measure each format in a fresh child process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.db"
        started = time.perf_counter()
        build(path, n)
        built = round(time.perf_counter() - started, 1)
        results = []
        for what in only:
            line = subprocess.run([sys.executable, "-m", "benchmarks.export_bench", "--measure", what, "--db", str(path),
                                   "--out", tmp], check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
            results.append({**json.loads(line), "build_seconds": built})
            print(json.dumps(results[-1]), flush=True)
        return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=100_000)
    ap.add_argument("--only", nargs="*", choices=MEASURES, default=list(MEASURES))
    ap.add_argument("--measure", choices=MEASURES)
    ap.add_argument("--db")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.db), args.measure, Path(args.out))))
        return
    run(args.sentences, args.only)


if __name__ == "__main__":
    main()
