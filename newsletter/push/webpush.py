"""The Web Push messenger: one encrypted, signed POST to the browser's push service.

The payload is encrypted with RFC 8291 (``aes128gcm``) by pywebpush/http_ece and signed with
an RFC 8292 VAPID JWT (py_vapid), never by code of ours. Answers: 201 sent; 404/410 the
subscription is gone (erased with its queued rows); 429 and 5xx temporary (the outbox backoff,
never before ``Retry-After``); 400, 413 and other 4xx permanent, with the reason kept.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, current_app

from newsletter import fetch
from newsletter.db import utcnow
from newsletter.delivery.channels import ChannelOutcome, ChannelResult, ChannelRow
from newsletter.extensions import db
from newsletter.push import service, vapid
from newsletter.push.models import PushSubscription
from newsletter.reference.models import Topic

if TYPE_CHECKING:
    import requests
    from py_vapid import Vapid02

log = logging.getLogger(__name__)

MAX_PAYLOAD = 3000  # bytes of JSON: every push service takes 4 KB after encryption
JWT_LIFETIME = 12 * 3600  # RFC 8292 allows 24 h at most


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notification(
    payload: dict[str, Any], names: dict[str, dict[str, str]], base_url: str
) -> dict[str, Any]:
    """The JSON the service worker shows: title, body, url, tag (one article or a group; an
    alert's was rendered once per language when it was queued)."""
    ready = payload.get("notification")
    if isinstance(ready, dict):
        return dict(ready)
    locale = payload.get("locale") or "it"
    articles: list[dict[str, Any]] = payload.get("articles") or []
    if len(articles) == 1:
        article = articles[0]
        topic = next(iter(article.get("topics") or []), None)
        fallback = (
            (
                f"Nuova notizia su {names.get(topic, {}).get('it', topic)}"
                if locale == "it"
                else f"New article on {names.get(topic, {}).get('en', topic)}"
            )
            if topic
            else ""
        )
        result: dict[str, Any] = {
            "title": _cut(article["title"], 120),
            "body": _cut(article.get("summary") or fallback, 240),
            "url": article.get("url") or f"{base_url}/",
            "tag": f"article-{article['id']}",
        }
    else:
        chosen = set(payload.get("topics") or [])
        shared = set.intersection(*(set(a.get("topics") or []) for a in articles)) & chosen
        count = len(articles)
        if len(shared) == 1:
            slug = shared.pop()
            name = names.get(slug, {}).get(locale, slug)
            title = (
                f"{count} nuove notizie su {name}"
                if locale == "it"
                else f"{count} new articles on {name}"
            )
            url = f"{base_url}/topics/{slug}"
        else:
            title = f"{count} nuove notizie" if locale == "it" else f"{count} new articles"
            url = f"{base_url}/"
        body = " · ".join(_cut(a["title"], 90) for a in articles[:3])
        if count > 3:
            body += " …"
        result = {"title": title, "body": _cut(body, 300), "url": url, "tag": "news"}
    result["lang"] = locale
    while len(json.dumps(result, ensure_ascii=False).encode()) > MAX_PAYLOAD:
        result["body"] = _cut(result["body"], max(20, len(result["body"]) // 2))
    return result


class WebPushMessenger:
    """Registered for ``push`` rows; thread-safe (one requests session per thread)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._local = threading.local()
        self._names: dict[str, dict[str, str]] | None = None
        self._key: Vapid02 | None = None
        self._lock = threading.Lock()
        self._headers: dict[str, tuple[float, dict[str, str]]] = {}

    def _session(self) -> requests.Session:
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # No proxy lookup from the environment on every request (a tenth of the time per
            # notification in a profile); push services are reached directly.
            session.trust_env = False
        return session

    def _vapid(self) -> Vapid02:
        with self._lock:
            if self._key is None:
                path = vapid.key_path(current_app.config, current_app.instance_path)
                vapid.load(path)  # a clear error when there is no key yet
                from py_vapid import Vapid02

                self._key = Vapid02.from_file(str(path))
            return self._key

    def _topic_names(self) -> dict[str, dict[str, str]]:
        if self._names is None:
            self._names = {
                t.slug: {"it": t.name_it, "en": t.name_en}
                for t in db.session.scalars(sa.select(Topic))
            }
        return self._names

    def authorization(self, endpoint: str) -> dict[str, str]:
        """The VAPID header for the endpoint's push service: one JWT per service, signed
        again after an hour (it is valid for twelve)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        with self._lock:
            cached = self._headers.get(audience)
            if cached is not None and cached[0] > now:
                return dict(cached[1])
        claims = {"aud": audience, "exp": int(now) + JWT_LIFETIME, "sub": service.vapid_subject()}
        header = dict(self._vapid().sign(claims))
        with self._lock:
            self._headers[audience] = (now + 3600, header)
        return dict(header)

    def __call__(self, row: ChannelRow) -> ChannelResult:
        cfg = current_app.config
        subscription_id = int(row.payload.get("subscription_id", 0))
        found = db.session.get(PushSubscription, subscription_id)
        if found is None:
            return ChannelResult(ChannelOutcome.GONE, "push subscription no longer exists")
        if not cfg.get("PUSH_INSECURE_ENDPOINTS"):
            try:
                fetch.check_url(found.endpoint, fetch.Policy())
            except fetch.FetchError as exc:
                log.warning("push endpoint %s refused at send time: %s", subscription_id, exc)
                return ChannelResult(ChannelOutcome.FAILED, "endpoint address not allowed")
        ttl = service.alert_ttl(row.payload, utcnow())
        if ttl == 0:  # an alert that expired while it waited (a push service down for hours)
            return ChannelResult(ChannelOutcome.DROPPED, "alert expired before it could be sent")
        message = notification(row.payload, self._topic_names(), str(cfg["BASE_URL"]))
        headers = self.authorization(found.endpoint)
        headers["Urgency"] = str(row.payload.get("urgency") or "normal")
        # A newer message of the same Topic replaces an undelivered older one at the push
        # service: a grouped batch, an alert's update or cancellation.
        headers["Topic"] = "notizie" if message["tag"] == "news" else message["tag"][:32]
        # Imported here: pywebpush (with aiohttp) and requests cost ~0.5 s of start-up for
        # every command otherwise.
        import requests
        from pywebpush import WebPusher

        info = {"endpoint": found.endpoint, "keys": {"p256dh": found.p256dh, "auth": found.auth}}
        try:
            response = WebPusher(info, requests_session=self._session()).send(
                json.dumps(message, ensure_ascii=False).encode(),
                headers=headers,
                ttl=int(cfg["PUSH_TTL"]) if ttl is None else ttl,
                timeout=float(cfg["PUSH_TIMEOUT"]),
                content_encoding="aes128gcm",
            )
        except requests.Timeout:
            return ChannelResult(ChannelOutcome.RETRY, "push service timed out")
        except requests.RequestException as exc:
            return ChannelResult(ChannelOutcome.RETRY, f"push service unreachable: {exc}")
        assert isinstance(response, requests.Response)
        status = response.status_code
        detail = f"{status} {_cut(response.text or response.reason or '', 200)}".strip()
        if status in (200, 201, 202):
            return ChannelResult(ChannelOutcome.SENT, str(status))
        if status in (404, 410):
            service.forget_gone(subscription_id, status)
            return ChannelResult(ChannelOutcome.GONE, detail)
        if status == 429 or status >= 500:
            return ChannelResult(
                ChannelOutcome.RETRY, detail, _retry_after(response.headers.get("Retry-After"))
            )
        return ChannelResult(ChannelOutcome.FAILED, detail)
