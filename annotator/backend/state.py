"""What `serve` records about each project's live link (`serve_links`, migration 005): no credential ever.

`annotator status` and `annotator connect` read it: where the ML backend points,
its id and the webhook's on the server, when the last webhook came and the last
/predict was answered (the last pull is `projects.pulled_at`).
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from ..store import now


def ensure_link(db: sqlite_utils.Database, project_id: str) -> None:
    """Make the project's row (empty until something happens)."""
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO serve_links (project_id, webhooks, predicted_tasks) VALUES (?, 0, 0)",
                   [project_id])


def record_registration(db: sqlite_utils.Database, project_id: str, backend_url: str, ml_backend_id: int | None,
                        webhook_id: int | None, changed: bool) -> None:
    """Where the project's ML backend and webhook point, their ids on the server, when they last changed."""
    ensure_link(db, project_id)
    with db.atomic():
        db.execute("UPDATE serve_links SET backend_url = ?, ml_backend_id = ?, webhook_id = ?, "
                   "registered_at = CASE WHEN ? OR registered_at IS NULL THEN ? ELSE registered_at END "
                   "WHERE project_id = ?", [backend_url, ml_backend_id, webhook_id, int(changed), now(), project_id])


def record_webhooks(db: sqlite_utils.Database, project_id: str, actions: tuple[str, ...], at: str) -> None:
    """Count webhooks received and keep the last one's action and time."""
    if not actions:
        return
    ensure_link(db, project_id)
    with db.atomic():
        db.execute("UPDATE serve_links SET webhooks = webhooks + ?, last_webhook_action = ?, last_webhook_at = ? "
                   "WHERE project_id = ?", [len(actions), actions[-1], at, project_id])


def record_predict(db: sqlite_utils.Database, project_id: str, tasks: int) -> None:
    """Count tasks answered by /predict and keep the time of the last answer."""
    ensure_link(db, project_id)
    with db.atomic():
        db.execute("UPDATE serve_links SET predicted_tasks = predicted_tasks + ?, last_predict_at = ? "
                   "WHERE project_id = ?", [tasks, now(), project_id])


def live_state(db: sqlite_utils.Database, project_id: str) -> dict[str, Any] | None:
    """The project's live link with its last pull, or None when it was never served."""
    rows = list(db.query("SELECT l.*, p.pulled_at AS last_pull_at FROM serve_links l "
                         "JOIN projects p ON p.id = l.project_id WHERE l.project_id = ?", [project_id]))
    return rows[0] if rows else None
