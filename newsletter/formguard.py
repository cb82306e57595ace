"""Session-free CSRF protection for the forms anyone can use: no cookie before a form is used.

Why not Flask-WTF's ``CSRFProtect`` for them: it keeps its secret in the session, so every page
that merely *shows* a form (the home page, a topic, a comune, the rating at the bottom of every
page, the push control, the admin sign-in) set the session cookie on a plain GET, and the privacy
notice promises no cookie before a form is used.

Why this is enough for these forms. A forged cross-site request is dangerous because the
victim's browser adds what identifies them (a cookie). A public form has nothing of the kind:
a person is identified by what they type, or by the personal link in the URL, never by the
browser. What a forger could still borrow is the browser itself (its network address, its push
subscription), and two checks stop that, as OWASP's CSRF cheat sheet describes for stateless
applications:

1. **Where the request comes from.** ``Sec-Fetch-Site``, set by the browser and out of reach of
   any page's script, must say ``same-origin`` when present (every current browser sends it);
   it decides alone, since the browser knows the page and the target whatever a proxy did to
   the host. Without it, ``Origin``, when present, must be this site (``BASE_URL`` or the host
   the request was sent to), else a ``Referer``, when present. A request with none of the three
   (an old browser, a privacy proxy, a script) is judged by the token alone.
2. **A signed, time-limited token bound to the form's purpose** in the ``csrf_token`` field or
   the ``X-CSRFToken`` header (the names Flask-WTF used, so nothing outside changes):
   itsdangerous with ``SECRET_KEY`` and its fallbacks (a rotation does not break open forms),
   one salt for this module, the purpose inside, valid ``FORM_TOKEN_MAX_AGE`` seconds. It proves
   that the POST answers a form this site rendered recently, for that form. It is deliberately
   not tied to the visitor (nothing could be, without server state or a cookie), so anyone can
   fetch one: against a forger the origin check is what counts, the token stops blind forms and
   replays of stale pages. Because it holds nothing personal, pages with forms stay cacheable.

The JSON routes of the push control add a third wall: a cross-site script cannot send
``Content-Type: application/json`` or an ``X-CSRFToken`` header without a CORS preflight, and we
answer none.

A refused POST gets a clear 400: the view can render its form again with everything typed and a
fresh token (``on_refused``), else the error page or JSON error. The admin area keeps Flask-WTF
once signed in: there a session exists anyway, and a token bound to it is stronger.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_babel import gettext as _
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from newsletter.exceptions import NewsletterError
from newsletter.extensions import csrf
from newsletter.signing import secret_keys
from newsletter.web import wants_json

FIELD = "csrf_token"
HEADER = "X-CSRFToken"
SALT = "newsletter.formguard"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

MISSING = "The CSRF token is missing."
EXPIRED = "The CSRF token has expired."
INVALID = "The CSRF token is invalid."
CROSS_SITE = "The request did not come from this site (CSRF)."

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

# "module.function" of every view this module guards, with its purpose: tests read it to
# check that no public POST route is left to the session-based check.
PROTECTED: dict[str, str] = {}


class FormRefused(NewsletterError):
    """A POST that is not from one of our forms (or from a form left open too long)."""

    status_code = 400


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_keys(current_app.config), salt=SALT)


def token(purpose: str) -> str:
    """The token of a form with this purpose, for the page being rendered (about 25 µs: not
    cached in ``g``, which may outlive the request, as Flask-WTF's cached token did)."""
    return _serializer().dumps(purpose)


def explanation() -> str:
    """What a person reads above a form that came back refused (their input is still there)."""
    return str(
        _(
            "This form was open for a long time, or was not sent from this site, so it was not "
            "used. Check it and send it again."
        )
    )


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default ports dropped; None when not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _ours() -> set[str]:
    found = {_origin(str(current_app.config["BASE_URL"])), _origin(request.host_url)}
    return {o for o in found if o is not None}


def _cross_site() -> bool:
    """The browser's word first: it knows both the page and the target, whatever proxies did to
    the host and scheme; then ``Origin``, then ``Referer``, compared with our own origins."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() != "same-origin"
    origin = request.headers.get("Origin")
    if origin is not None:
        return _origin(origin) not in _ours()  # "null" (sandboxes, file:) is not ours either
    referer = request.headers.get("Referer")
    return bool(referer) and _origin(referer or "") not in _ours()


def refusal(purpose: str) -> str | None:
    """Why this request cannot count as the ``purpose`` form sent from our page; None if it can."""
    if _cross_site():
        return CROSS_SITE
    raw = request.form.get(FIELD) or request.headers.get(HEADER)
    if not raw:
        return MISSING
    try:
        signed_for = _serializer().loads(raw, max_age=int(current_app.config["FORM_TOKEN_MAX_AGE"]))
    except SignatureExpired:
        return EXPIRED
    except BadData:
        return INVALID
    return None if signed_for == purpose else INVALID


def protect(purpose: str, on_refused: Callable[..., Any] | None = None) -> Callable[[View], View]:
    """Guard a public view's POST (PUT, DELETE) with the checks above instead of Flask-WTF's
    session; GET passes through, so one view may show and receive its form.

    ``on_refused(reason, *view_args, **view_kwargs)`` answers a refused request from our own
    pages (an expired, missing or wrong token), typically the form again with what was typed, an
    error and a fresh token; otherwise ``FormRefused``: a 400 page, or JSON where the client
    wants it.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if request.method in SAFE_METHODS:  # a view that also shows its form (GET)
                return view(*args, **kwargs)
            reason = refusal(purpose)
            if reason is None:
                return view(*args, **kwargs)
            log.info("form refused: %s (%s): %s", purpose, request.endpoint, reason)
            if on_refused is not None and reason != CROSS_SITE and not wants_json():
                # Only for our own pages: another site's request gets no form filled in by it.
                return on_refused(reason, *args, **kwargs)
            raise FormRefused(reason)

        csrf.exempt(guarded)  # the session-based check would set the very cookie we avoid
        PROTECTED[f"{guarded.__module__}.{guarded.__name__}"] = purpose
        return guarded  # type: ignore[return-value]

    return decorate


def init_app(app: Flask) -> None:
    app.jinja_env.globals["form_token"] = token
