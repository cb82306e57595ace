"""POST /feedback: a plain form (no JavaScript, no cookie). It changes only an anonymous counter,
and is guarded like every public form by ``formguard``: same-origin and a signed token, with no
session behind it."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from newsletter import formguard
from newsletter.extensions import limiter
from newsletter.feedback import service

bp = Blueprint("feedback", __name__)

# Public content pages that carry the rating component (the design-comuni model asks for it on
# every first- and second-level page). Pages reached through personal links (preferences,
# confirm, unsubscribe) never do: their paths carry tokens.
RATED_ENDPOINTS = frozenset(
    {
        "public.home",
        "public.topic",
        "public.subscribe_form",
        "public.privacy",
        "public.accessibility",
        "public.legal",
        "public.comuni",
        "public.comune",
        "digests.archive",
        "digests.edition",
        "alerts.index",
        "alerts.alert",
    }
)


def is_rated_endpoint(endpoint: str | None) -> bool:
    return endpoint in RATED_ENDPOINTS


def _endpoint_of(path: str) -> str | None:
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except HTTPException:
        return None
    return str(endpoint)


def template_context() -> dict[str, object]:
    def feedback_page() -> str | None:
        """This page's path when it carries the rating component, else None."""
        return request.path if is_rated_endpoint(request.endpoint) else None

    return {"feedback_page": feedback_page}


@bp.post("/feedback")
@limiter.limit(lambda: str(current_app.config["RATELIMIT_FEEDBACK"]))
@formguard.protect("rating")
def rate() -> BaseResponse | tuple[str, int]:
    page = request.form.get("page", "")
    if (
        not page.startswith("/")
        or page.startswith("//")
        or not is_rated_endpoint(_endpoint_of(page))
    ):
        return "Unknown page\n", 400
    try:
        rating = int(request.form.get("rating", ""))
    except ValueError:
        rating = 0
    if rating not in service.RATINGS:
        outcome = "missing"
    else:
        service.record(page, rating)
        outcome = "thanks"
    return redirect(f"{page}?{urlencode({'feedback': outcome})}#feedback", code=303)
