"""Shared pieces for the benchmarks: a stub LLM in its own process, a synthetic corpus, results."""

from __future__ import annotations

import ast
import datetime as dt
import http.client
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from annotator.ingest import ingest, read_inputs
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
STUB = "tests.support.stub_llm"  # run as a module from the repository's root

SCHEMA = load_schema("news_events")
PROMPT = load_prompt(None, "news_events")
MODEL = "stub"

# The stub answers every request with this draft. Synthetic sentences mostly contain these spans,
# so grounding does real work; "Atlantis" is never in a sentence and is always dropped.
REPLY: dict[str, Any] = {
    "entities": [
        {"text": "the army", "label": "ARMED_GROUP"},
        {"text": "Sunday", "label": "DATETIME"},
        {"text": "Atlantis", "label": "LOCATION"},
    ],
    "event_type": "battle",
    "attribution": "claimed",
    "sources": [{"text": "a local official", "label": "SOURCE"}],
}

_PLACES = ["Mora", "Port Selva", "Valdora", "Kessa", "Doran", "Tilbury Ridge", "Ashfall", "Nuvo",
           "Caldera Bay", "Redwater"]
_GROUPS = ["the army", "rebel fighters", "the Northern Liberation Front", "police", "a local militia"]
_SOURCES = ["a local official", "the governor", "the defence ministry", "witnesses", "a spokesman"]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_TEMPLATES = [
    "{g} attacked a checkpoint near {p} on {d}, killing at least {n} people, {s} said.",
    "{s} said {n} civilians were wounded when a drone struck a market in {p} on {d}.",
    "Hundreds of residents marched through {p} on {d} to protest the killing of {n} farmers.",
    "{g} denied that it had shelled the hospital in {p}, which treated {n} patients on {d}.",
    "The ceasefire agreed in {p} on {d} collapsed after {n} hours, according to {s}.",
]
SENTENCES_PER_DOC = 10  # a headline (the title) and nine body sentences


def write_corpus(path: Path, n_sentences: int, seed: int = 0) -> Path:
    """A JSONL corpus of wire-news-like documents with exactly `n_sentences` sentences (all distinct)."""
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8") as f:
        doc = 0
        while written < n_sentences:
            body = []
            for _ in range(min(SENTENCES_PER_DOC, n_sentences - written) - 1):
                s = rng.choice(_TEMPLATES).format(g=rng.choice(_GROUPS), p=rng.choice(_PLACES),
                                                  d=rng.choice(_DAYS), n=rng.randint(2, 10**7),
                                                  s=rng.choice(_SOURCES))
                body.append(s[0].upper() + s[1:])
            title = f"Fighting flares near {rng.choice(_PLACES)} (report {doc})"
            if not body:  # one sentence left: a document without a title
                f.write(json.dumps({"id": f"doc{doc}", "text": f"Nothing happened in {title}."}) + "\n")
                written += 1
            else:
                f.write(json.dumps({"id": f"doc{doc}", "title": title, "text": " ".join(body)}) + "\n")
                written += 1 + len(body)
            doc += 1
    return path


def fresh_db(folder: Path, name: str, n: int):
    """A new database in `folder` holding a synthetic corpus of exactly `n` sentences."""
    path = folder / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_db(path)
    corpus = write_corpus(folder / f"{name}.jsonl", n)
    ingest(db, read_inputs([str(corpus)]))
    got = db["sentences"].count
    if got != n:
        raise RuntimeError(f"synthetic corpus gave {got} sentences, wanted {n}")
    return db


def free_port() -> int:
    """A free TCP port on loopback (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StubProcess:
    """tests/support/stub_llm.py in its own process, so it never shares the GIL with the tool."""

    def __init__(self, latency: float = 0.0, reply: dict | str = REPLY, port: int = 0,
                 args: tuple[str, ...] = ()) -> None:
        """`port`: serve there (the same server again, as far as the tool can tell), else on a free one.

        `args`: more stub options (e.g. ("--rate-limit", "1200")).
        """
        self.latency = latency
        self.args = args
        self.reply = reply if isinstance(reply, str) else json.dumps(reply)
        self.fixed_port = port
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.outcomes: dict[str, int] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StubProcess:
        for _ in range(5):
            self.port = self.fixed_port or free_port()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", STUB, "--port", str(self.port), "--latency", str(self.latency),
                 "--reply", self.reply, *self.args],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
            line = self.proc.stdout.readline().strip()
            if line.startswith("http://"):
                return self
            self.proc.wait()  # lost the port race: try another one
        raise RuntimeError("the stub LLM server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        for line in out.splitlines():
            if line.startswith("stopped; outcomes: "):
                self.outcomes = ast.literal_eval(line.removeprefix("stopped; outcomes: "))
        self.proc = None

    @property
    def requests(self) -> int:
        """Requests the stub answered (known once it has stopped)."""
        return sum(self.outcomes.values())


def raw_loop(port: int, body: bytes, n: int, concurrency: int) -> float:
    """Requests per second of a bare http.client loop: `concurrency` threads, keep-alive, same body."""
    local = threading.local()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}

    def post() -> None:
        # One keep-alive connection per thread, like the tool's HTTP client pool.
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v1/chat/completions", body, headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"stub answered HTTP {resp.status}")

    return call_loop(post, n, concurrency)


def call_loop(fn, n: int, concurrency: int) -> float:
    """Calls per second of `fn()` from `concurrency` threads, `n` calls in all."""
    lock = threading.Lock()
    left = [n]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return n / (time.perf_counter() - started)


def sdk_loop(client, body: dict, n: int, concurrency: int) -> tuple[float, float]:
    """The `openai` client alone, as annotate sets it up (`LLMClient.async_sdk`: AsyncOpenAI over aiohttp, one
    event loop): `n` chat requests with the same body, `concurrency` at a time; (requests/s, CPU ms a request)."""
    import asyncio

    import httpx

    async def main() -> tuple[float, float]:
        sdk = client.async_sdk()
        left = [n]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                reply = await sdk.post("/chat/completions", body=body, cast_to=httpx.Response)
                reply.json()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        await client.aclose()
        return n / seconds, cpu / n * 1000

    return asyncio.run(main())


@dataclass
class Result:
    """One figure measured against its limit from the same run."""

    name: str
    title: str
    figure: float | None
    unit: str
    limit: float | None = None
    limit_label: str = ""
    ratio: float | None = None
    target: str = ""          # e.g. ">= 0.8", "<= 0.05", "== 0" or "" (report only)
    passed: bool | None = None  # None: report only
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    measured_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def verdict(self) -> str:
        return "report" if self.passed is None else ("PASS" if self.passed else "MISS")

    def line(self) -> str:
        limit = f"({self.limit_label} {fmt(self.limit)})" if self.limit_label else "(no limit)"
        ratio = f"ratio {fmt(self.ratio)}" if self.ratio is not None else "ratio -"
        target = f"[target {self.target}]" if self.target else "[report]"
        text = f"{self.name}: {fmt(self.figure)} {self.unit} {limit} {ratio} {target} {self.verdict}"
        return text + (f"  -- {self.note}" if self.note else "")


def check(ratio: float, target: str) -> bool:
    """Whether `ratio` meets a target written as '>= x', '<= x' or '== x'."""
    op, value = target.split()
    x = float(value)
    return {">=": ratio >= x, "<=": ratio <= x, "==": ratio == x}[op]


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def save(results: list[Result], path: Path | None = None) -> Path:
    """Merge these results into latest.json (one entry per name, the newest wins) and history.jsonl."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = path or RESULTS / "latest.json"
    data: dict[str, Any] = {"results": {}}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {"results": {}}
    data["machine"] = machine()
    data["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for r in results:
        data.setdefault("results", {})[r.name] = {**asdict(r), "verdict": r.verdict}
    path.write_text(json.dumps(data, indent=2) + "\n")
    with (RESULTS / "history.jsonl").open("a") as f:
        for r in results:
            f.write(json.dumps({**asdict(r), "verdict": r.verdict}) + "\n")
    return path


def markdown_table(results: list[Result]) -> str:
    rows = ["| benchmark | figure | limit (same run) | ratio | target | result |",
            "|---|---|---|---|---|---|"]
    for r in results:
        limit = f"{fmt(r.limit)} {r.limit_label}" if r.limit_label else "-"
        rows.append(f"| {r.name}: {r.title} | {fmt(r.figure)} {r.unit} | {limit} | {fmt(r.ratio)} | "
                    f"{r.target or 'report'} | {r.verdict} |")
    return "\n".join(rows)
