"""Label Studio: the labeling config from the schema, result conversion, push and pull.

Modules: `config` (labeling config), `convert` (draft <-> result items), `api`
(connect, one-line errors, paging), `projects` (projects recorded in SQLite),
`push` / `reconcile` / `predictions` (drafts to tasks and predictions), `pull`
(annotations to gold). Import from the module that defines a name.
"""
