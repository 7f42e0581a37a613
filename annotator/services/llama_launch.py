"""Runs `python -m llama_cpp.server` in the llm venv with two changes (this file is run by path there).

1. llama.cpp's extra (repacked/AMX) weight buffers off, like llama-server's --no-repack, which
   llama-cpp-python does not expose. On CPUs with AMX (recent Xeons) a native build otherwise
   crashes in ggml_backend_amx_mul_mat (SIGSEGV on the first request, nothing in the log).
2. Greedy sampling under a grammar checks the grammar only when the best token breaks it, as
   llama.cpp's own sampler does (llama-server, common_sampler_sample): llama-cpp-python applies
   the grammar to all 49,152 candidates at every token, which took as long as the model's own
   forward pass for SmolLM2 (benchmarks/smollm_bench.py). The token chosen is the same: the
   best token the grammar allows.

Nothing here is imported by the annotator package: it needs llama_cpp, which only the venv has.
"""

from __future__ import annotations

import ctypes
import runpy
from typing import Any


def _no_extra_buffers(C: Any) -> None:
    default = C.llama_model_default_params

    def params() -> Any:
        value = default()
        if hasattr(value, "use_extra_bufts"):
            value.use_extra_bufts = False
        return value

    C.llama_model_default_params = params


class GrammarCheckedGreedy:
    """Penalties, then the best token; the grammar filters all candidates only if it rejects that one."""

    def __init__(self, llama: Any, C: Any, np: Any, grammar: Any, repeat: tuple[float, float, float]) -> None:
        self.C, self.np, n = C, np, llama._n_vocab
        self.n_vocab = n
        self.penalties = C.llama_sampler_init_penalties(n, llama.last_n_tokens_size, *repeat)
        self.grammar = C.llama_sampler_init_grammar(llama._model.vocab, grammar._grammar.encode("utf-8"),
                                                    grammar._root.encode("utf-8"))
        dtype = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
        assert dtype.itemsize == ctypes.sizeof(C.llama_token_data)
        self.all = np.zeros(n, dtype=dtype)
        self.one = np.zeros(1, dtype=dtype)
        self._all = C.llama_token_data_array(self.all.ctypes.data_as(C.llama_token_data_p), n, -1, False)
        self._one = C.llama_token_data_array(self.one.ctypes.data_as(C.llama_token_data_p), 1, -1, False)

    def _apply(self, sampler: Any, array: Any, size: int) -> None:
        array.size, array.selected, array.sorted = size, -1, False
        self.C.llama_sampler_apply(sampler, ctypes.byref(array))

    def _best(self) -> int:
        return int(self.all["id"][int(self.np.argmax(self.all["logit"]))])

    def sample(self, ctx: Any, idx: int = -1) -> int:
        np, C = self.np, self.C
        self.all["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self.all["logit"] = np.ctypeslib.as_array(C.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        self._apply(self.penalties, self._all, self.n_vocab)
        token = self._best()
        self.one["id"][0], self.one["logit"][0] = token, 0.0
        self._apply(self.grammar, self._one, 1)
        if not np.isfinite(self.one["logit"][0]):
            self._apply(self.grammar, self._all, self.n_vocab)
            token = self._best()
        C.llama_sampler_accept(self.grammar, token)
        C.llama_sampler_accept(self.penalties, token)
        return token

    def close(self) -> None:
        for sampler in (self.penalties, self.grammar):
            if sampler is not None:
                self.C.llama_sampler_free(sampler)
        self.penalties = self.grammar = None

    def __del__(self) -> None:
        self.close()


def _grammar_checked_greedy(C: Any) -> None:
    import numpy as np
    from llama_cpp import llama as L  # runs-elsewhere: the llm venv

    default = L.Llama._init_sampler

    def init_sampler(self: Any, **kw: Any) -> Any:
        if kw.get("grammar") is None or kw.get("temp") != 0.0 or kw.get("logits_processor") is not None:
            return default(self, **kw)
        repeat = (kw.get("repeat_penalty", 1.0), kw.get("frequency_penalty", 0.0), kw.get("presence_penalty", 0.0))
        return GrammarCheckedGreedy(self, C, np, kw["grammar"], repeat)

    L.Llama._init_sampler = init_sampler


def main() -> None:
    import llama_cpp.llama_cpp as C  # runs-elsewhere: the llm venv

    _no_extra_buffers(C)
    _grammar_checked_greedy(C)
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
