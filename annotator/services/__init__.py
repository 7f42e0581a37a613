"""The local services the tool manages: Label Studio and the llama.cpp server.

Each runs as a subprocess from its own virtual environment under ``home()``:

    procs.py           ports, pids, starting and stopping processes, logs, HTTP health polls
    venv.py            a service's virtual environment, created once under a file lock from its lock file
    base.py            the state file and the install/start/reuse/status/stop life cycle
    labelstudio.py     the managed Label Studio, with a known user and token
    labelstudio_db.py  where it keeps its records: SQLite in its data dir, or PostgreSQL
    labelstudio_tokens.py  its admin's session: the legacy-token switch and a personal access token
    llamacpp.py        the embedded OpenAI-compatible server (llama-cpp-python, SmolLM2-135M)
    llama_launch.py    run by path in the llm venv: starts `llama_cpp.server` with two changes
    relock.py          refreshes a service's lock: newest versions, the service's tests, new pins
    constraints/       the locks shipped with the package (labelstudio.txt, llm.txt)

Which server a command uses (flags, environment, then these) is `endpoints.py`.
"""
