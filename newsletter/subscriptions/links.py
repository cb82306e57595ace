"""A subscriber's personal links (confirm, preferences, unsubscribe, export), built in one place.

Service mail, the digests' headers and footers (through the sender) and the pages all call
:func:`personal_url`. The token is signed here (``tokens``); the path comes from the public
pages' own routes, bound to ``BASE_URL``, so a link can only point where a page answers, and it
is built the same way inside or outside a request (the sender has none).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import MapAdapter

from newsletter.subscriptions.models import Subscriber
from newsletter.subscriptions.tokens import Purpose, make_token

#: The page each purpose opens.
ENDPOINTS = {
    Purpose.CONFIRM: "public.confirm_page",
    Purpose.PREFERENCES: "public.preferences",
    Purpose.UNSUBSCRIBE: "public.unsubscribe_page",
    Purpose.EXPORT: "public.export",
}


def _adapter() -> MapAdapter:
    """The app's URL map bound to BASE_URL (cached: the sender builds two links a message)."""
    cache = current_app.extensions.get("newsletter.subscriptions.links")
    base = str(current_app.config["BASE_URL"])
    if cache is None or cache[0] != base:
        parts = urlsplit(base)
        adapter = current_app.url_map.bind(
            parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme
        )
        cache = current_app.extensions["newsletter.subscriptions.links"] = (base, adapter)
    return cache[1]


def personal_url(
    purpose: Purpose | str, subscriber_id: int, link_key: str, *, external: bool = True
) -> str:
    """The link for one subscriber and purpose: absolute for mail, a path for our own pages."""
    purpose = Purpose(purpose)
    token = make_token(purpose, subscriber_id, link_key)
    return _adapter().build(ENDPOINTS[purpose], {"token": token}, force_external=external)


def personal_url_for(purpose: Purpose, subscriber: Subscriber, *, external: bool = True) -> str:
    return personal_url(purpose, subscriber.id, subscriber.link_key, external=external)
