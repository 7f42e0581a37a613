"""Child process for the memory benchmark: ingest a corpus, then annotate it, then report peak RSS.

    python -m benchmarks.memchild --db X.db --input corpus.jsonl --base-url http://127.0.0.1:PORT/v1

Prints one JSON line: peak RSS (VmHWM) after imports, after ingest and after annotate, timings, counts.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from annotator.annotate import annotate
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    VmHWM (the high-water mark of this process's own memory map), not ru_maxrss: on Linux,
    ru_maxrss of an exec'd child also counts the parent's RSS at fork time, so a big parent
    makes a small child look big.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    started_mb = peak_mb()
    db = open_db(args.db)
    schema = load_schema("news_events")
    prompt = load_prompt(None, "news_events")
    client = LLMClient(base_url=args.base_url, api_key="bench", model="stub")
    imported_mb = peak_mb()

    t = time.perf_counter()
    ing = ingest(db, read_inputs([args.input]))
    ingest_s = time.perf_counter() - t
    ingest_mb = peak_mb()

    t = time.perf_counter()
    rep = annotate(db, client, schema, prompt, concurrency=args.concurrency)
    annotate_s = time.perf_counter() - t
    print(json.dumps({
        "sentences": ing.sentences_new, "drafts": rep.done, "by_status": rep.by_status,
        "ingest_s": ingest_s, "annotate_s": annotate_s,
        "peak_mb_start": started_mb, "peak_mb_imports": imported_mb,
        "peak_mb_ingest": ingest_mb, "peak_mb": peak_mb(),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


if __name__ == "__main__":
    main()
