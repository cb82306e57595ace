"""``/healthz``: 200 when the database answers, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from newsletter.ops.service import check_health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    health = check_health()
    body = {
        "status": "ok" if health.ok else "unavailable",
        "database": "ok" if health.database else "unreachable",
        "oldest_due_delivery_age_seconds": health.oldest_due_age_seconds,
    }
    return jsonify(body), 200 if health.ok else 503
