"""`annotator serve` against a real Label Studio and the stub LLM: /predict latency and submit -> gold delay.

Measures, with `annotator serve` in its own process:
- /predict for one task whose sentence has a stored draft, 100 times (p50, p95), and for 100 such tasks at
  once, 20 times (p50, p95);
- /predict for one task never seen (stored as a sentence, drafted by the stub, answered), 20 times;
- an annotation created through Label Studio's API -> its gold row in SQLite (the webhook, then a pull),
  20 times (p50, p95), with no command run.

Uses LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY when both are set, else starts a managed
Label Studio on a fresh data dir (about 1-3 min). Prints one JSON object.

    python -m benchmarks.serve_bench
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from annotator.annotate import annotate
from annotator.labelstudio.api import open_client
from annotator.labelstudio.config import label_config
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.services.labelstudio import LabelStudioServer
from annotator.store import open_db
from benchmarks.common import MODEL, PROMPT, SCHEMA, StubProcess, free_port, fresh_db

N_STORED = 100
N_BATCHES = 20
N_UNSEEN = 20
N_SUBMIT = 20


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
            "n": len(ordered)}


def start_serve(env: dict, project: str, port: int, db_file: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "annotator", "serve", "--project", project, "--register",
                             "--port", str(port), "--db", str(db_file)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "registered with Label Studio" in line:
            return proc
    raise RuntimeError("serve did not start")


def timed_predict(client: httpx.Client, url: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(f"{url}/predict", json=body)
    response.raise_for_status()
    assert len(response.json()["results"]) == len(body["tasks"])
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp_name:
        tmp = Path(tmp_name)
        url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
        managed = None
        if not (url and key):
            managed = LabelStudioServer(base_dir=tmp / "labelstudio")
            info = managed.start()
            url, key = info.url, info.token
        try:
            print(json.dumps(run(tmp, url, key), indent=2))
        finally:
            if managed is not None:
                managed.stop()


def run(tmp: Path, url: str, key: str) -> dict:
    db = fresh_db(tmp, "serve", N_STORED)
    ls = open_client(url, key)
    project = f"serve bench {int(time.time())}"
    with StubProcess(latency=0.0) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="bench", model=MODEL)
        annotate(db, client, SCHEMA, PROMPT, concurrency=4)
        report = push(db, ls, SCHEMA, project, url=url)
        env = {**os.environ, "ANNOTATOR_HOME": str(tmp / "home"), "OPENAI_BASE_URL": stub.base_url,
               "OPENAI_API_KEY": "bench", "ANNOTATOR_MODEL": MODEL, "LABEL_STUDIO_URL": url,
               "LABEL_STUDIO_API_KEY": key}
        port = free_port()
        proc = start_serve(env, project, port, tmp / "serve.db")
        try:
            return measure(db, ls, report.ls_project_id, f"http://127.0.0.1:{port}", tmp)
        finally:
            proc.terminate()
            proc.wait(30)


def measure(db, ls, pid: int, backend: str, tmp: Path) -> dict:
    creds = json.loads((tmp / "home" / "config" / "serve.json").read_text())
    tasks = [{"id": r["task_id"], "data": {"text": r["text"], "sentence_id": r["sentence_id"]}} for r in db.query(
        "SELECT t.task_id, t.sentence_id, s.text FROM tasks t JOIN sentences s ON s.id = t.sentence_id")]
    base = {"project": f"{pid}.0", "label_config": label_config(SCHEMA), "params": {}}
    with httpx.Client(auth=(creds["user"], creds["secret"]), timeout=120) as http:
        timed_predict(http, backend, {**base, "tasks": tasks[:1]})  # warm up
        one = [timed_predict(http, backend, {**base, "tasks": [t]}) for t in tasks[:N_STORED]]
        batches = [timed_predict(http, backend, {**base, "tasks": tasks[:N_STORED]}) for _ in range(N_BATCHES)]
        unseen = [timed_predict(http, backend, {**base, "tasks": [
            {"id": 10_000_000 + i, "data": {"text": f"Rebels fired {i} rockets at the army base on Sunday."}}]})
            for i in range(N_UNSEEN)]
    serve_db = tmp / "serve.db"
    delays = []
    for task in tasks[:N_SUBMIT]:
        annotation = ls.annotations.create(id=task["id"], result=[
            {"id": "c", "from_name": "event_type", "to_name": "text", "type": "choices",
             "value": {"choices": ["battle"]}}])
        started = time.perf_counter()
        while True:
            check = open_db(serve_db)
            found = check["gold"].count_where("annotation_id = ?", [annotation.id])
            check.close()
            if found:
                delays.append(time.perf_counter() - started)
                break
            if time.perf_counter() - started > 30:
                raise RuntimeError("no gold row within 30 s")
            time.sleep(0.02)
    return {"predict_one_stored_task": percentiles(one), "predict_100_stored_tasks": percentiles(batches),
            "predict_one_unseen_task": percentiles(unseen), "submit_to_gold_row": percentiles(delays)}


if __name__ == "__main__":
    main()
