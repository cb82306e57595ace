"""``/healthz`` (200 while the database answers, 503 otherwise) and ``/metrics``."""

from __future__ import annotations

import hmac
import os

from flask import Blueprint, Response, abort, current_app, jsonify, request

from newsletter.ops import metrics
from newsletter.ops.service import check_health
from newsletter.settings import rate_limit_storage_problem

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Cheap enough for a load balancer: one indexed MIN query.

    ``status`` is "degraded" (still 200: the web side works) when due mail has waited longer
    than ``HEALTH_QUEUE_MAX_AGE``, so a monitor can alert on stuck senders.
    """
    health = check_health(queue_max_age=float(current_app.config["HEALTH_QUEUE_MAX_AGE"]))
    warnings = [w for w in (rate_limit_storage_problem(current_app.config, os.environ),) if w]
    status = health.status
    if warnings and status == "ok":
        status = "degraded"
    body = {
        "status": status,
        "database": "ok" if health.database else "unreachable",
        "oldest_due_delivery_age_seconds": health.oldest_due_age_seconds,
        "warnings": warnings,
    }
    return jsonify(body), 200 if health.ok else 503


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Counts of subscribers and deliveries are not for everyone: with METRICS_TOKEN set, only
    ``Authorization: Bearer <token>`` gets them; production without the token says 404, as
    if there were no such page."""
    token = current_app.config.get("METRICS_TOKEN")
    production = current_app.config["ENV_NAME"] == "production"
    if token or production:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}" if token else None
        if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            if production:
                abort(404)
            return Response(
                "metrics need Authorization: Bearer <NEWSLETTER_METRICS_TOKEN>\n",
                status=401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    body, content_type = metrics.render(app, request.headers.get("Accept"))
    return Response(body, content_type=content_type)
