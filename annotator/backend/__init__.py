"""`annotator serve`: the tool as Label Studio's ML backend, and gold kept in step by webhooks.

Modules: `protocol` (pure: requests, answers, webhook payloads, authentication),
`credentials` (the shared secret in a mode-600 file), `tasks` (a Label Studio task
-> its sentence in SQLite, storing a task imported by hand as a document),
`predict` (stored drafts at once, new ones drafted with bounded concurrency),
`sync` (debounced pulls after webhooks and on a timer), `register` (the ML backend
and the webhook on the project, idempotently), `app` (the Starlette routes and
uvicorn). Import from the module that defines a name.
"""
