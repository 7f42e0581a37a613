"""Refresh the lock of a managed service's environment: newest versions, the service's tests, new pins.

Run from a checkout (it needs tests/): ``make locks``, or one service at a time::

    python -m annotator.services.relock labelstudio
    python -m annotator.services.relock llm

It installs the service's requirements (with their known-break bounds, and nothing else
pinned) into a new environment under a temporary ANNOTATOR_HOME, writes every installed
version into ``constraints/<slug>.txt``, then runs the tests that need the service
against that environment. When they fail, the previous lock is put back.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .venv import SEED_PACKAGES, canonical_name, ensure_venv, installed_versions

TEST_MARKERS = {"labelstudio": "labelstudio", "llm": "llamacpp"}
HEADERS = {
    "labelstudio": "Label Studio's environment (annotator labelstudio install)",
    "llm": "the embedded llama.cpp server's environment (annotator llm install)",
}


def service_of(slug: str):
    if slug == "labelstudio":
        from .labelstudio import LabelStudioServer

        return LabelStudioServer()
    from .llamacpp import LocalLLMServer

    return LocalLLMServer()


def lock_text(slug: str, installed: dict[str, str]) -> str:
    """The constraints file for <installed> (name -> version), sorted, seed packages left out."""
    names = sorted((n for n in installed if canonical_name(n) not in SEED_PACKAGES), key=canonical_name)
    header = [
        f"# {HEADERS[slug]}: every package pinned to versions tested together.",
        f"# Written by `make locks` (python -m annotator.services.relock {slug}); do not edit by hand.",
        f"# Python {sys.version_info.major}.{sys.version_info.minor}, Linux.",
    ]
    return "\n".join(header + [f"{n}=={installed[n]}" for n in names]) + "\n"


def relock(slug: str) -> int:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / "tests").is_dir():
        print(f"Error: no tests/ beside {repo / 'annotator'}; run the refresh from a checkout", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix=f"relock-{slug}-") as tmp:
        os.environ["ANNOTATOR_HOME"] = tmp
        service = service_of(slug)
        ensure_venv(service.venv_dir, service.requirements, service.install_check, print)
        lock_file = service.lock_file
        old = lock_file.read_text() if lock_file.exists() else ""
        new = lock_text(slug, installed_versions(service.venv_dir))
        lock_file.write_text(new)
        changed = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---", "+#", "-#"))]
        print(f"{len(changed)} pin line(s) changed in {lock_file}:", *changed, sep="\n  ")
        tests = [sys.executable, "-m", "pytest", "-q", "-m", TEST_MARKERS[slug], "-p", "no:cacheprovider"]
        code = subprocess.call(tests, cwd=repo, env={**os.environ, "ANNOTATOR_HOME": tmp})
        if code != 0:
            lock_file.write_text(old)
            print(f"Error: the {TEST_MARKERS[slug]} tests failed on the newest versions; the previous "
                  f"lock is kept. Add the breaking package's bound to the service's requirements and "
                  f"run again", file=sys.stderr)
            return 1
    print(f"{lock_file} refreshed; commit it with the tests that passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in TEST_MARKERS:
        print(f"usage: python -m annotator.services.relock {{{'|'.join(TEST_MARKERS)}}}", file=sys.stderr)
        return 2
    return relock(args[0])


if __name__ == "__main__":
    sys.exit(main())
