"""The public face of urgent alerts: the list, one page per alert, its CAP 1.2 document.

HTTP only; the service reads. "Now" is read once per request, so an alert that expires leaves
the active list by itself (no job moves it).
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from newsletter.alerts import service
from newsletter.alerts.cap import CAP_MIMETYPE
from newsletter.db import utcnow
from newsletter.web import page_arg

bp = Blueprint("alerts", __name__)

# Like the feeds: machine readers poll; five minutes of shared caching costs little staleness.
CAP_CACHE_CONTROL = "public, max-age=300"
PAST_PER_PAGE = 20


@bp.get("/avvisi")
def index() -> str:
    now = utcnow()
    active = service.active_alerts(now)
    past = service.past_alerts(page_arg(), PAST_PER_PAGE, now=now)
    newest = max(
        (a.updated_at for a in [*active, *past.items] if a.updated_at is not None), default=None
    )
    return render_template(
        "alerts/index.html", active=active, past=past, now=now, last_change=newest
    )


@bp.get("/avvisi/<int:alert_id>")
def alert(alert_id: int) -> str:
    found = service.public_alert(alert_id)  # NotFound (404) for pending and rejected alerts
    return render_template(
        "alerts/alert.html",
        alert=found,
        messages=service.released_messages(found),
        now=utcnow(),
    )


@bp.get("/avvisi/<int:alert_id>.cap")
def cap_document(alert_id: int) -> BaseResponse:
    body = service.cap_document(alert_id)
    response = Response(body, content_type=f"{CAP_MIMETYPE}; charset=utf-8")
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.headers["Cache-Control"] = CAP_CACHE_CONTROL
    return response.make_conditional(request)
