"""Label Studio: the labeling config from the schema, result conversion, push and pull.

    api.py          the SDK edge: `open_client`, one-line errors, time stamps, paging the Data Manager
    auth.py         the headers for an API key: a legacy token, or a personal access token exchanged for access tokens
    config.py       the labeling config, generated from the schema's fields
    convert.py      pure: draft and gold rows <-> Label Studio result items
    page.py         the annotator's page beyond the config: instructions, the data manager view
    projects.py     projects recorded in SQLite, one row per (server URL, project)
    overlap.py      push --overlap: each task to N different annotators (the project's settings);
                    the tasks by their number of annotations, for status
    push.py         drafts to Label Studio: new sentences as tasks, newer drafts as predictions
    accept.py       push --route: drafts accepted from the model, the rest to people by confidence
    predictions.py  a draft as a prediction (`prediction_of`: what push sends and the ML backend answers),
                    and the server's prediction ids recorded against their drafts
    reconcile.py    SQLite put right after a push that died after an import
    pull.py         annotations to gold, one validated row each, writing only what changed
    adjudicate.py   disputed tasks marked for a reviewer: the view "Adjudicate", most disputed first

Import from the module that defines a name.
"""
