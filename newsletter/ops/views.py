"""``/healthz`` (200 while the database answers, 503 otherwise) and ``/metrics``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from newsletter.ops import metrics
from newsletter.ops.service import check_health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Cheap enough for a load balancer: one indexed MIN query.

    ``status`` is "degraded" (still 200: the web side works) when due mail has waited longer
    than ``HEALTH_QUEUE_MAX_AGE``, so a monitor can alert on stuck senders.
    """
    health = check_health(queue_max_age=float(current_app.config["HEALTH_QUEUE_MAX_AGE"]))
    body = {
        "status": health.status,
        "database": "ok" if health.database else "unreachable",
        "oldest_due_delivery_age_seconds": health.oldest_due_age_seconds,
    }
    return jsonify(body), 200 if health.ok else 503


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    body, content_type = metrics.render(app, request.headers.get("Accept"))
    return Response(body, content_type=content_type)
