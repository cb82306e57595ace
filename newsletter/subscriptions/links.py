"""A subscriber's personal links (confirm, preferences, unsubscribe, export, unsubscribe from
urgent alerts only), built in one place.

Service mail, the digests' headers and footers (through the sender) and the pages all call
:func:`personal_url`. The token is signed here (``tokens``); the path comes from the public
pages' own routes, bound to ``BASE_URL``, so a link can only point where a page answers, and it
is built the same way inside or outside a request (the sender has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import MapAdapter

from newsletter.signing import FastSigner
from newsletter.subscriptions.models import Subscriber
from newsletter.subscriptions.tokens import Purpose, token_signer

#: The page each purpose opens.
ENDPOINTS = {
    Purpose.CONFIRM: "public.confirm_page",
    Purpose.PREFERENCES: "public.preferences",
    Purpose.UNSUBSCRIBE: "public.unsubscribe_page",
    Purpose.EXPORT: "public.export",
    Purpose.UNSUBSCRIBE_ALERTS: "public.unsubscribe_alerts_page",
}


@dataclass
class _Routes:
    base: str
    adapter: MapAdapter
    around: dict[tuple[Purpose, bool], tuple[str, str]] = field(default_factory=dict)
    # (purpose as given, external) -> the signer and the URL around its token
    links: dict[tuple[str, bool], tuple[FastSigner, str, str]] = field(default_factory=dict)


def _routes() -> _Routes:
    """The app's URL map bound to BASE_URL (cached: the sender builds two links a message)."""
    cache = current_app.extensions.get("newsletter.subscriptions.links")
    base = str(current_app.config["BASE_URL"])
    if cache is None or cache.base != base:
        parts = urlsplit(base)
        adapter = current_app.url_map.bind(
            parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme
        )
        cache = current_app.extensions["newsletter.subscriptions.links"] = _Routes(base, adapter)
    return cache


_SLOT = "TOKEN0SLOT"  # URL-safe like a token, so the route builds it unescaped


def _around_token(purpose: Purpose, external: bool) -> tuple[str, str]:
    """The URL before and after the token: built from the route once per purpose."""
    routes = _routes()
    found = routes.around.get((purpose, external))
    if found is None:
        url = routes.adapter.build(ENDPOINTS[purpose], {"token": _SLOT}, force_external=external)
        before, _, after = url.partition(_SLOT)
        found = routes.around[(purpose, external)] = (before, after)
    return found


def personal_url(
    purpose: Purpose | str, subscriber_id: int, link_key: str, *, external: bool = True
) -> str:
    """The link for one subscriber and purpose: absolute for mail, a path for our own pages.

    The sender asks for two per message: the route is built once per purpose and the token
    (``make_token``'s, by its fast signer) put in its place; signer and route are looked up
    once per purpose."""
    routes = _routes()
    found = routes.links.get((purpose, external))
    if found is None:
        checked = Purpose(purpose)
        found = (token_signer(checked), *_around_token(checked, external))
        routes.links[(purpose, external)] = found
    signer, before, after = found
    return f"{before}{signer.dumps([subscriber_id, link_key])}{after}"


def personal_url_for(purpose: Purpose, subscriber: Subscriber, *, external: bool = True) -> str:
    return personal_url(purpose, subscriber.id, subscriber.link_key, external=external)
