"""Benchmarks, each figure against a limit measured in the same run; run from the repository's root.

run.py              the main run: drafting loop, cache, memory, tokens, push/pull, rate limits, prompt size
common.py           the stub LLM in its own process, a synthetic corpus, results and their table
drafting_bench.py   the drafting loop against the openai client alone (0 ms, 200 ms, 1 s), and the cache
ls_bench.py         push and pull against a private Label Studio
prompt_bench.py     each built-in prompt's fixed and per-sentence part, in tokens
ratelimit_bench.py  adaptive concurrency against the stub's token bucket
memchild.py         the memory benchmark's child: ingest, annotate, peak RSS
eval_bench.py       eval and agreement over N gold rows
export_bench.py     export of N gold sentences in each format
serve_bench.py      `annotator serve`: /predict latency and submit to gold
smollm_bench.py     the embedded SmolLM2 server before and after
examples_bench.py   retrieved examples against the prompt's own, on the wire gold
confidence_bench.py what a draft's confidence signals are worth, on the wire gold
team_bench.py       teams at scale: push and pull of N tasks on Label Studio on SQLite and on PostgreSQL
team_annotators.py  its eight annotators at once while `annotator serve` pulls by webhooks
ls_child.py         its child: one push or pull, timed, with its peak RSS
"""
