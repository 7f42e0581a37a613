"""What the tests share, one module a thing (`from tests.support.cli import run`).

stub_llm.py         a real OpenAI-compatible stub server on loopback, with faults (`python -m tests.support.stub_llm`)
stub_batch.py       its Batch API: files, batches, results
stub_limits.py      its token bucket and rate-limit headers
stub_wire.py        its HTTP server and handler, and the error, fault and completion bodies it answers
responders.py       'models' for the stub: plausible news_events answers
drafting.py         the default schema, its prompt, the sample article, a client aimed at the stub
cli.py              the CLI in-process (`run`, the one runner), or as a child process
batch.py            annotate --batch against the stub's Batch API
labelstudio.py      a drafted database for Label Studio; what the server and the gold hold after
serve.py            `annotator serve`: the predictor on the stub, the served project on Label Studio
prefix_proxy.py     a reverse proxy serving a server under a path prefix (https://host/labelstudio)
claims.py           a sentence with two opposing claims, drafts and pairs of them (relations)
gold_db.py          a gold database built row by row, every figure worked out by hand
export_files.py     each export format read back into records
route_gold.py       the routing tests' database, calibrated
nasty_schema.py     one field of every kind, with values a labeling config must escape
browser.py          Chromium on a Label Studio page, and where screenshots go
pg_cluster.py       a PostgreSQL cluster made with Debian's initdb
waiting.py          waiting for a condition with a deadline
together.py         two runs of the same command at once
"""
