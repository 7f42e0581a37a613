"""The embedded SmolLM2 server: the demo's drafting before and after, on the same machine in one run.

Each configuration has its own llama.cpp server (the project's llm venv, a private state
dir) and database, and drafts the sample article's 11 sentences the way `annotator demo`
does (concurrency 1, mode auto). The configurations take turns sentence by sentence, so a
change in the machine's load hits all of them alike; each round starts fresh servers (an
empty prompt cache, as in a first demo). Where the time goes comes from the server's own
log: llama.cpp prints, per request, the prompt evaluation and the generation time; the rest
of a request's total is sampling (the grammar included) and Python.

    python -m benchmarks.smollm_bench                     # before, after's server, the demo now
    python -m benchmarks.smollm_bench --configs before,logits,threads,grammar,after --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from annotator.annotate import annotate
from annotator.demo import EMBEDDED_MAX_TOKENS, EMBEDDED_PROMPT
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.resources import data_file
from annotator.schema import load_schema
from annotator.services.llamacpp import LocalLLMServer
from annotator.store import open_db
from benchmarks.common import RESULTS, Result, save

# The launch before this change: llama-cpp-python's server defaults (logits for every prompt token,
# n_threads_batch = all cores, the grammar applied to every candidate token) with --n_threads 2,
# the AMX workaround only, and the demo's max_tokens 512.
BEFORE_ARGS = ("--n_threads", "2")
BEFORE_MAX_TOKENS = 512
BEFORE_LAUNCHER = """\
import runpy
import llama_cpp.llama_cpp as C
_default = C.llama_model_default_params
def _params():
    params = _default()
    if hasattr(params, "use_extra_bufts"):
        params.use_extra_bufts = False
    return params
C.llama_model_default_params = _params
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
_PERF = re.compile(r"llama_perf_context_print:\s+(prompt eval time|eval time|total time) =\s+([\d.]+) ms / +(\d+)")


@dataclass
class Config:
    name: str
    title: str
    server_args: tuple[str, ...] | None = None  # None: LocalLLMServer's own (the after)
    env: dict[str, str] = field(default_factory=dict)
    max_tokens: int = EMBEDDED_MAX_TOKENS
    prompt: str | None = None  # None: the newest for the schema, as the demo loads it
    launcher: str | None = None  # python -c this instead of LocalLLMServer's launcher file


CONFIGS = {
    "before": Config("before", "before: 2 threads, logits for every prompt token, grammar on every candidate, "
                     "max_tokens 512", BEFORE_ARGS, max_tokens=BEFORE_MAX_TOKENS, launcher=BEFORE_LAUNCHER),
    "logits": Config("logits", "before without the prompt's logits", (*BEFORE_ARGS, "--logits_all", "false"),
                     max_tokens=BEFORE_MAX_TOKENS, launcher=BEFORE_LAUNCHER),
    "threads": Config("threads", "before with 1 thread and without the prompt's logits",
                      ("--n_threads", "1", "--n_threads_batch", "1", "--logits_all", "false"),
                      max_tokens=BEFORE_MAX_TOKENS, launcher=BEFORE_LAUNCHER),
    "grammar": Config("grammar", "after's server (1 thread, no prompt logits, grammar checked on the best token), "
                      "max_tokens 512", max_tokens=BEFORE_MAX_TOKENS),
    "after": Config("after", "after's server (LocalLLMServer's settings), news_events.v2, max_tokens 256"),
    "compact": Config("compact", "after: the demo now (after's server, the compact prompt, max_tokens 256)",
                      prompt=EMBEDDED_PROMPT),
    "compact2": Config("compact2", "the demo now, with 2 threads (every core of this VM)",
                       ("--n_threads", "2", "--n_threads_batch", "2", "--logits_all", "false"), prompt=EMBEDDED_PROMPT),
}


class BenchServer(LocalLLMServer):
    """The embedded server with another command line (for the before) and extra environment."""

    def __init__(self, base_dir: Path, config: Config) -> None:
        super().__init__(base_dir=base_dir)
        self.config = config

    def _command(self, port: int) -> list[str]:
        command = super()._command(port)
        if self.config.launcher is not None:  # python launcher.py --model ... -> python -c code --model ...
            command = [command[0], "-c", self.config.launcher, *command[command.index("--model"):]]
        if self.config.server_args is None:
            return command
        keep = command[:command.index("--n_ctx") + 2]  # python launcher --model ... --port N --n_ctx 4096
        return [*keep, *self.config.server_args]

    def _env(self) -> dict[str, str]:
        return {**super()._env(), **self.config.env}


def perf(log: Path, offset: int) -> dict[str, float]:
    """Seconds of prompt evaluation, generation and in total over the requests logged after `offset`."""
    sums = {"prompt eval time": 0.0, "eval time": 0.0, "total time": 0.0, "prompt_tokens": 0, "gen_tokens": 0}
    for m in _PERF.finditer(log.read_text(errors="replace")[offset:]):
        sums[m.group(1)] += float(m.group(2)) / 1000
        if m.group(1) == "prompt eval time":
            sums["prompt_tokens"] += int(m.group(3))
        elif m.group(1) == "eval time":
            sums["gen_tokens"] += int(m.group(3))
    return {"prompt_eval_s": sums["prompt eval time"], "generation_s": sums["eval time"],
            "sampling_and_python_s": sums["total time"] - sums["prompt eval time"] - sums["eval time"],
            "server_total_s": sums["total time"], "prompt_tokens_evaluated": sums["prompt_tokens"],
            "tokens_generated": sums["gen_tokens"]}


@dataclass
class Lane:
    """One configuration's server, database and client during a round."""

    config: Config
    server: BenchServer
    info: Any
    log_offset: int
    db: Any
    client: LLMClient
    seconds: float = 0.0
    calls: list[Any] = field(default_factory=list)
    prompt: Any = None


def start_lane(config: Config, tmp: Path, round_: int) -> Lane:
    server = BenchServer(tmp / f"llm-{config.name}-{round_}", config)
    info = server.start()
    offset = len(info.log_path.read_text(errors="replace")) if info.log_path.exists() else 0
    db = open_db(tmp / f"{config.name}-{round_}.db")
    ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    client = LLMClient(base_url=info.url, api_key=None, model=info.model, max_tokens=config.max_tokens)
    return Lane(config, server, info, offset, db, client, prompt=load_prompt(config.prompt, "news_events"))


def run_round(configs: list[Config], tmp: Path, round_: int) -> list[dict[str, Any]]:
    """Draft the sample article once per configuration, one sentence each in turn (a load change hits all)."""
    schema = load_schema("news_events")
    lanes = []
    try:
        for config in configs:
            lanes.append(start_lane(config, tmp, round_))
        for _ in range(11):
            for lane in lanes:
                started = time.perf_counter()
                # As the demo drafts with its own server: concurrency 1, mode auto, the default prompt.
                lane.calls.append(annotate(lane.db, lane.client, schema, lane.prompt, concurrency=1, limit=1))
                lane.seconds += time.perf_counter() - started
    finally:
        for lane in lanes:
            lane.server.stop()
    return [lane_result(lane, lane.prompt.version, round_) for lane in lanes]


def lane_result(lane: Lane, prompt_version: str, round_: int) -> dict[str, Any]:
    rows = list(lane.db.query("SELECT status, attempts, completion_tokens, prompt_tokens FROM drafts"))
    n, ok = len(rows), sum(r["status"] == "ok" for r in rows)
    return {"config": lane.config.name, "round": round_, "seconds": lane.seconds,
            "per_sentence_s": lane.seconds / max(n, 1), "sentences": n, "ok": ok, "ok_share": ok / max(n, 1),
            "attempts": sum(r["attempts"] for r in rows), "completion_tokens": sum(r["completion_tokens"] for r in rows),
            "prompt_tokens": sum(r["prompt_tokens"] for r in rows), "mode": lane.calls[-1].mode if lane.calls else None,
            "prompt": prompt_version, "max_tokens": lane.config.max_tokens, "load_avg": os.getloadavg(),
            **perf(lane.info.log_path, lane.log_offset)}


def summary(runs: list[dict[str, Any]], before: str, after: str) -> Result:
    """The speed-up of `after` over `before` (means over rounds), with both shares of ok drafts."""
    def mean(name: str, key: str) -> float:
        values = [r[key] for r in runs if r["config"] == name]
        return sum(values) / len(values)
    b, a = mean(before, "per_sentence_s"), mean(after, "per_sentence_s")
    ok_b, ok_a = mean(before, "ok_share"), mean(after, "ok_share")
    speedup = b / a
    return Result(f"smollm_speedup_{after}", f"drafting the sample article with the embedded SmolLM2, "
                  f"{CONFIGS[after].title}, vs {before}", a, "s a sentence", b, "before, s a sentence", speedup,
                  ">= 3 with no fewer ok drafts", speedup >= 3 and ok_a >= ok_b,
                  f"{speedup:.1f}x faster; ok drafts {ok_b:.0%} before, {ok_a:.0%} after", {"runs": runs})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="before,after,compact", help=f"comma-separated, in order: {', '.join(CONFIGS)}")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    runs = []
    with tempfile.TemporaryDirectory(prefix="annotator-smollm-") as tmp:
        for round_ in range(1, args.rounds + 1):
            for result in run_round([CONFIGS[n] for n in names], Path(tmp), round_):
                runs.append(result)
                print(json.dumps(result), flush=True)
    results = [summary(runs, "before", name) for name in names if name != "before" and "before" in names]
    for result in results:
        print(result.line())
    if results:
        save(results, RESULTS / "smollm.json")
    print(json.dumps([{k: v for k, v in asdict(CONFIGS[n]).items()} for n in names]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
