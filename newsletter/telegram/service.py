"""Which channels get which article or alert, the post's text, and the Bot API messenger."""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from newsletter.alerts.words import severity_word
from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.channels import ChannelOutcome, ChannelResult, ChannelRow
from newsletter.delivery.models import DeliveryKind
from newsletter.exceptions import ConfigurationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality
from newsletter.vocabulary import Locale

if TYPE_CHECKING:
    from newsletter.alerts.models import AlertNotice

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # characters of the post (Telegram allows 4096)
MAX_PLACES = 12  # comuni named in an alert's post; more are counted ("e altri 5")
ALERTS = "alerts"  # the route of a channel that carries every urgent alert


@dataclass(frozen=True)
class Route:
    scope: str  # "all", a topic slug, "comune:<slug>", or "alerts"
    chat: str  # "@channel" or a numeric chat id
    language: str = "it"  # of the posts' own words (``@channel:en``); one per chat

    @property
    def for_articles(self) -> bool:
        return self.scope != ALERTS


def parse_channels(value: str | None) -> list[Route]:
    """``"mobility=@cremasco_mobilita,all=@cremasco,alerts=@cremasco_alerts:en"`` -> routes;
    a bad pair, or a chat given two languages, stops the start."""
    routes: list[Route] = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        scope, sep, target = part.partition("=")
        chat, _colon, language = target.strip().partition(":")
        scope, language = scope.strip().lower(), language.strip().lower() or "it"
        if (
            not sep
            or not scope
            or not (chat.startswith("@") or chat.lstrip("-").isdigit())
            or language not in Locale.values()
        ):
            raise ConfigurationError(
                f"NEWSLETTER_TELEGRAM_CHANNELS: {part!r} is not scope=@channel or "
                "scope=@channel:en (scope: all, a topic slug, comune:<slug>, or alerts)"
            )
        routes.append(Route(scope, chat, language))
    languages: dict[str, str] = {}
    for route in routes:
        if languages.setdefault(route.chat, route.language) != route.language:
            raise ConfigurationError(
                f"NEWSLETTER_TELEGRAM_CHANNELS: {route.chat} is given two languages: "
                f"write :en on every pair of an English channel"
            )
    return routes


def _languages(routes: Sequence[Route]) -> dict[str, str]:
    return {route.chat: route.language for route in routes}


READ_ARTICLE = {"it": "Leggi la notizia", "en": "Read the article"}


def post_text(article: Any, language: str = "it") -> str:
    """Title in bold, a short summary, the link: HTML as the Bot API's ``parse_mode=HTML``.
    Articles are written in Italian: an English channel gets only its link's words in
    English."""
    title = html.escape(" ".join(str(article.title).split()))
    parts = [f"<b>{title}</b>"]
    summary = " ".join(str(article.summary or "").split())
    if summary:
        if len(summary) > 400:
            summary = summary[:399].rstrip() + "…"
        parts.append(html.escape(summary))
    if article.url:
        href = html.escape(str(article.url), quote=True)
        parts.append(f'<a href="{href}">{READ_ARTICLE[language]}</a>')
    return "\n\n".join(parts)[:MAX_TEXT]


def enqueue_batch(period_key: str, articles: Sequence[Any]) -> int:
    """One row per (article, channel) that wants it, in the caller's transaction; the unique
    key makes a second build or a re-import add nothing. Posts to one channel are spaced."""
    cfg = current_app.config
    routes = parse_channels(cfg.get("TELEGRAM_CHANNELS"))
    if not routes or not cfg.get("TELEGRAM_BOT_TOKEN") or not articles:
        return 0
    slugs = dict(db.session.execute(sa.select(Municipality.id, Municipality.slug)).tuples().all())
    languages = _languages(routes)
    per_chat: dict[str, list[Any]] = defaultdict(list)
    for article in sorted(articles, key=lambda a: (a.published_at, a.id)):
        places = {f"comune:{slugs.get(m)}" for m in article.municipality_ids}
        chats = {
            r.chat
            for r in routes
            if r.for_articles
            and (r.scope == "all" or r.scope in article.topics or r.scope in places)
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
                "text": post_text(article, languages[chat]),
            },
            due=now + timedelta(seconds=n * interval),
        )
        for chat, items in per_chat.items()
        for n, article in enumerate(items)
    ]
    inserted = outbox.enqueue_keyed(DeliveryKind.TELEGRAM, rows)
    log.info("telegram batch %s: %d posts queued", period_key, inserted)
    return inserted


# --- urgent alerts ---------------------------------------------------------------------------

# A channel's posts are in its route's language (Italian unless ``@channel:en``): the fixed
# words here, the headline and text the issuer's English ones when given.
ALERT_WORDS = {
    "it": {
        "cancelled": "✅ <b>AVVISO REVOCATO</b>",
        "update": "⚠️ <b>AVVISO · AGGIORNAMENTO</b> · gravità {severity}",
        "alert": "⚠️ <b>AVVISO</b> · gravità {severity}",
        "no_longer": "L'avviso non è più in vigore",
        "more_places": " e altri {n}",
        "everywhere": "tutti i comuni dell'Area Omogenea Cremasca",
        "places": "Comuni: {where}",
        "until": "Valido fino al {when}",
        "read": "Leggi l'avviso {identifier}",
        "details": "Approfondimento",
        "page": "",
    },
    "en": {
        "cancelled": "✅ <b>ALERT CANCELLED</b>",
        "update": "⚠️ <b>ALERT · UPDATE</b> · severity {severity}",
        "alert": "⚠️ <b>ALERT</b> · severity {severity}",
        "no_longer": "The alert is no longer in force",
        "more_places": " and {n} more",
        "everywhere": "every comune of the Area Omogenea Cremasca",
        "places": "Comuni: {where}",
        "until": "Valid until {when}",
        "read": "Read alert {identifier}",
        "details": "More information",
        "page": "?lang=en",
    },
}


def _rome(value: datetime) -> str:
    local = value.astimezone(ZoneInfo(str(current_app.config["TIMEZONE"])))
    return local.strftime("%d/%m/%Y %H:%M")


def alert_post(notice: AlertNotice, places: Sequence[str], language: str = "it") -> str:
    """An alert's post: the "⚠️ AVVISO" marker with the severity in words (an update or a
    cancellation says so instead), the headline in bold, the whole text, the comuni, until
    when, and the link to the alert's page. HTML for ``parse_mode=HTML``, everything escaped;
    never cut (it stays far under Telegram's 4,096 characters: the text is at most 1,000)."""
    words = ALERT_WORDS[language]
    kind = str(notice.msg_type)  # CAP's msgType: alert, update, cancel
    severity = severity_word(notice.severity, language)
    if kind == "cancel":
        heading = words["cancelled"]
    else:
        heading = words["update" if kind == "update" else "alert"].format(severity=severity)
    headline = html.escape(" ".join(notice.headline_in(language).split()))
    parts = [heading, f"<b>{headline}</b>"]
    if kind == "cancel":
        parts.append(
            words["no_longer"]
            + (f": {html.escape(' '.join(notice.note.split()))}" if notice.note else ".")
        )
    else:
        if kind == "update" and notice.note:
            parts.append(f"<i>{html.escape(' '.join(notice.note.split()))}</i>")
        parts.append(html.escape(notice.text_in(language).strip()))
        where = ", ".join(places[:MAX_PLACES])
        if len(places) > MAX_PLACES:
            where += words["more_places"].format(n=len(places) - MAX_PLACES)
        if notice.all_municipalities:
            where = words["everywhere"]
        parts.append(
            html.escape(words["places"].format(where=where))
            + "\n"
            + words["until"].format(when=_rome(notice.expires_at))
        )
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    page = f"{base}/avvisi/{notice.alert_id}{words['page']}"
    links = [
        f'<a href="{html.escape(page, quote=True)}">'
        + words["read"].format(identifier=notice.identifier)
        + "</a>"
    ]
    if notice.url and kind != "cancel":
        links.append(f'<a href="{html.escape(notice.url, quote=True)}">{words["details"]}</a>')
    parts.append(" · ".join(links))
    return "\n\n".join(parts)


def enqueue_alert(notice: AlertNotice) -> int:
    """ONE post per channel for a released alert message: the channels of its comuni
    (``comune:<slug>`` routes) and those with the ``alerts`` route. A channel named by several
    comuni still gets one post (key per message and channel). Priority lane, due now: an alert
    is not spaced behind the channel's queued article posts."""
    cfg = current_app.config
    routes = parse_channels(cfg.get("TELEGRAM_CHANNELS"))
    if not routes or not cfg.get("TELEGRAM_BOT_TOKEN"):
        return 0
    municipalities = db.session.execute(
        sa.select(Municipality.id, Municipality.name, Municipality.slug).order_by(Municipality.name)
    ).all()
    ids = set(notice.municipality_ids)
    concerned = [m for m in municipalities if notice.all_municipalities or m.id in ids]
    scopes = {f"comune:{m.slug}" for m in concerned} | {ALERTS}
    chats = sorted({r.chat for r in routes if r.scope in scopes})
    languages = _languages(routes)
    names = [m.name for m in concerned]
    texts = {lang: alert_post(notice, names, lang) for lang in {languages[c] for c in chats}}
    rows = [
        outbox.Keyed(
            target=chat,
            dedupe_key=f"telegram:{chat}:alert:{notice.message_id}",
            payload={
                "chat": chat,
                "host": chat,
                "alert_id": notice.alert_id,
                "message_id": notice.message_id,
                "expires_at": notice.expires_at.isoformat(),
                "text": texts[languages[chat]],
            },
        )
        for chat in chats
    ]
    inserted = outbox.enqueue_keyed(DeliveryKind.TELEGRAM, rows, priority=outbox.PRIORITY_ALERT)
    log.info(
        "telegram alert %s message %d (%s): %d posts queued",
        notice.identifier,
        notice.sequence,
        notice.msg_type,
        inserted,
    )
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
        expires = row.payload.get("expires_at")
        if expires and datetime.fromisoformat(str(expires)) <= utcnow():
            return ChannelResult(ChannelOutcome.DROPPED, "alert expired before it could be posted")
        wait = self._wait(chat, float(cfg["TELEGRAM_POST_INTERVAL"]))
        if wait > 0:
            return ChannelResult(ChannelOutcome.LATER, "pacing", wait)
        import requests  # here: ~0.2 s of start-up for every command otherwise

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
