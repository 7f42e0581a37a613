"""Label Studio's ML backend (the `annotator serve` command), and gold kept in step by webhooks.

    protocol.py     pure: requests, answers, webhook payloads, labeling-config checks, authentication
    credentials.py  the secret Label Studio and serve share, kept in a mode-600 file
    tasks.py        a Label Studio task -> its sentence in SQLite; a task imported by hand stored as a document
    predict.py      /predict: stored drafts at once, new ones drafted with bounded concurrency before the deadline
    sync.py         debounced pulls after webhooks, on a timer, and at start
    register.py     the ML backend and the webhook on the project, idempotently
    state.py        what serve records about each project's live link (`serve_links`)
    service.py      one serve process: the project, the predictor, the syncer, the registration, wired once
    app.py          the Starlette routes, run by uvicorn

A prediction is `labelstudio.predictions.prediction_of`, as push sends it. The commands
are in `cli/serve.py` (serve, and connect, which registers a running backend on a
project); `services/` holds the managed servers. Import from the module that defines a name.
"""
