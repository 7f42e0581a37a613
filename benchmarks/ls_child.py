"""Child process for the team benchmark: one `push` or `pull` (the library calls the CLI makes), timed, with its
peak RSS.

    LABEL_STUDIO_URL=... LABEL_STUDIO_API_KEY=... python -m benchmarks.ls_child push --db X.db --project NAME

The server and its key come from the environment (never from argv). Prints one JSON line: seconds (the call
alone), peak RSS (VmHWM) after imports and at the end, and the report's fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

from annotator.labelstudio.api import open_client
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from annotator.schema import load_schema
from annotator.store import open_db


def peak_mb() -> float:
    """This process's own peak resident set (VmHWM), in MB: ru_maxrss would count the parent's at fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("push", "pull"))
    ap.add_argument("--db", required=True)
    ap.add_argument("--project", required=True)
    args = ap.parse_args()
    url, key = os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"]
    imported_mb = peak_mb()
    db = open_db(args.db)
    schema = load_schema("news_events")
    started = time.perf_counter()
    ls = open_client(url, key, timeout=600)
    step = push if args.step == "push" else pull
    report = step(db, ls, schema, args.project, url=url)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "peak_mb_imports": imported_mb,
                      "report": dataclasses.asdict(report)}, default=str), flush=True)


if __name__ == "__main__":
    main()
