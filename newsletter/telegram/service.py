"""Which channels get which article, the post's text, and the Bot API messenger."""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import current_app

from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.channels import ChannelOutcome, ChannelResult, ChannelRow
from newsletter.delivery.models import DeliveryKind
from newsletter.exceptions import ConfigurationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # characters of the post (Telegram allows 4096)


@dataclass(frozen=True)
class Route:
    scope: str  # "all", a topic slug, or "comune:<slug>"
    chat: str  # "@channel" or a numeric chat id


def parse_channels(value: str | None) -> list[Route]:
    """``"mobility=@cremasco_mobilita,all=@cremasco"`` -> routes; a bad pair stops the start."""
    routes: list[Route] = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        scope, sep, chat = part.partition("=")
        scope, chat = scope.strip().lower(), chat.strip()
        if not sep or not scope or not (chat.startswith("@") or chat.lstrip("-").isdigit()):
            raise ConfigurationError(
                f"NEWSLETTER_TELEGRAM_CHANNELS: {part!r} is not scope=@channel "
                "(scope: all, a topic slug, or comune:<slug>)"
            )
        routes.append(Route(scope, chat))
    return routes


def post_text(article: Any) -> str:
    """Title in bold, a short summary, the link: HTML as the Bot API's ``parse_mode=HTML``."""
    title = html.escape(" ".join(str(article.title).split()))
    parts = [f"<b>{title}</b>"]
    summary = " ".join(str(article.summary or "").split())
    if summary:
        if len(summary) > 400:
            summary = summary[:399].rstrip() + "…"
        parts.append(html.escape(summary))
    if article.url:
        parts.append(f'<a href="{html.escape(str(article.url), quote=True)}">Leggi la notizia</a>')
    return "\n\n".join(parts)[:MAX_TEXT]


def enqueue_batch(period_key: str, articles: Sequence[Any]) -> int:
    """One row per (article, channel) that wants it, in the caller's transaction; the unique
    key makes a second build or a re-import add nothing. Posts to one channel are spaced."""
    cfg = current_app.config
    routes = parse_channels(cfg.get("TELEGRAM_CHANNELS"))
    if not routes or not cfg.get("TELEGRAM_BOT_TOKEN") or not articles:
        return 0
    slugs = dict(db.session.execute(sa.select(Municipality.id, Municipality.slug)).tuples().all())
    per_chat: dict[str, list[Any]] = defaultdict(list)
    for article in sorted(articles, key=lambda a: (a.published_at, a.id)):
        places = {f"comune:{slugs.get(m)}" for m in article.municipality_ids}
        chats = {
            r.chat
            for r in routes
            if r.scope == "all" or r.scope in article.topics or r.scope in places
        }
        for chat in sorted(chats):
            per_chat[chat].append(article)
    now = utcnow()
    interval = float(cfg["TELEGRAM_POST_INTERVAL"])
    rows = [
        outbox.Keyed(
            target=chat,
            dedupe_key=f"telegram:{chat}:{article.id}",
            payload={
                "chat": chat,
                "host": chat,
                "article_id": article.id,
                "text": post_text(article),
            },
            due=now + timedelta(seconds=n * interval),
        )
        for chat, items in per_chat.items()
        for n, article in enumerate(items)
    ]
    inserted = outbox.enqueue_keyed(DeliveryKind.TELEGRAM, rows)
    log.info("telegram batch %s: %d posts queued", period_key, inserted)
    return inserted


class TelegramMessenger:
    """Registered for ``telegram`` rows: ``sendMessage`` through the Bot API."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _wait(self, chat: str, interval: float) -> float:
        """Seconds to wait before this chat may get another post (0: go, and book the slot)."""
        with self._lock:
            now = time.monotonic()
            allowed = self._next.get(chat, 0.0)
            if now < allowed:
                return allowed - now
            self._next[chat] = now + interval
            return 0.0

    def _hold(self, chat: str, seconds: float) -> None:
        with self._lock:
            self._next[chat] = max(self._next.get(chat, 0.0), time.monotonic() + seconds)

    def __call__(self, row: ChannelRow) -> ChannelResult:
        cfg = current_app.config
        token = cfg.get("TELEGRAM_BOT_TOKEN")
        if not token:
            return ChannelResult(ChannelOutcome.RETRY, "NEWSLETTER_TELEGRAM_BOT_TOKEN is not set")
        chat = str(row.payload["chat"])
        wait = self._wait(chat, float(cfg["TELEGRAM_POST_INTERVAL"]))
        if wait > 0:
            return ChannelResult(ChannelOutcome.LATER, "pacing", wait)
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False
        url = f"{str(cfg['TELEGRAM_API_URL']).rstrip('/')}/bot{token}/sendMessage"
        try:
            response = session.post(
                url,
                data={
                    "chat_id": chat,
                    "text": row.payload["text"],
                    "parse_mode": "HTML",
                    "disable_web_page_preview": "false",
                },
                timeout=float(cfg["TELEGRAM_TIMEOUT"]),
            )
        except requests.RequestException as exc:
            # never log the URL: it carries the bot token
            return ChannelResult(ChannelOutcome.RETRY, f"Bot API unreachable: {type(exc).__name__}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        description = str(answer.get("description") or response.reason or "")[:200]
        if response.status_code == 200 and answer.get("ok"):
            return ChannelResult(ChannelOutcome.SENT, "ok")
        if response.status_code == 429:
            retry_after = float((answer.get("parameters") or {}).get("retry_after") or 30)
            self._hold(chat, retry_after)
            return ChannelResult(ChannelOutcome.RETRY, f"429 {description}", retry_after)
        if response.status_code >= 500:
            return ChannelResult(ChannelOutcome.RETRY, f"{response.status_code} {description}")
        return ChannelResult(ChannelOutcome.FAILED, f"{response.status_code} {description}")
