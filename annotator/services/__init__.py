"""The local services the tool manages: Label Studio and the llama.cpp server.

Each runs as a subprocess from its own virtual environment under ``home()``:

- ``procs``: ports, pids, starting and stopping processes, logs, HTTP health polls;
- ``venv``: creating a service's virtual environment once, under a file lock;
- ``base``: the state file and the install/start/reuse/status/stop life cycle;
- ``labelstudio`` and ``llamacpp``: the two services.
"""
