"""Telegram channels against a local Bot API: one post per article and channel, never twice,
429's retry_after honoured."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.digests.service import build_digests
from newsletter.exceptions import ConfigurationError
from newsletter.extensions import db
from newsletter.telegram.service import parse_channels
from tests.fixtures.digests import add_article, add_municipality
from tests.fixtures.push import TelegramApi

AT = datetime(2026, 11, 24, 9, 4, tzinfo=UTC)
BATCH = AT + timedelta(minutes=10)


@pytest.fixture
def channels(app: Flask, telegram_api: TelegramApi) -> TelegramApi:
    app.config.update(
        TELEGRAM_BOT_TOKEN="123:secret-token",
        TELEGRAM_API_URL=telegram_api.url,
        TELEGRAM_CHANNELS="mobility=@cremasco_mobilita,all=@cremasco,comune:offanengo=@offanengo",
        TELEGRAM_POST_INTERVAL=0.0,
    )
    return telegram_api


def _send(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["send", "--until-idle"])
    assert result.exit_code == 0, result.output


def _rows() -> list[Delivery]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.TELEGRAM))
    )


def test_each_article_is_posted_once_to_each_channel_that_wants_it(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    add_municipality("Offanengo")
    add_article(
        "Nuova ciclabile <Crema & Ricengo>",
        ["mobility"],
        AT - timedelta(minutes=2),
        summary="Quattro chilometri lungo il Serio.",
        url="https://www.example.org/news/1?a=1&b=2",
    )
    add_article(
        "Festa della Comunità Energetica",
        ["energy"],
        AT - timedelta(minutes=3),
        municipalities=["Offanengo"],
    )
    build_digests("immediate", BATCH)
    _send(runner)
    posts = sorted((p["chat_id"], p["text"].split("\n")[0]) for p in channels.posts)
    assert posts == [
        ("@cremasco", "<b>Festa della Comunità Energetica</b>"),
        ("@cremasco", "<b>Nuova ciclabile &lt;Crema &amp; Ricengo&gt;</b>"),
        ("@cremasco_mobilita", "<b>Nuova ciclabile &lt;Crema &amp; Ricengo&gt;</b>"),
        ("@offanengo", "<b>Festa della Comunità Energetica</b>"),
    ]
    first = next(p for p in channels.posts if p["chat_id"] == "@cremasco_mobilita")
    assert first["parse_mode"] == "HTML"
    assert "Quattro chilometri lungo il Serio." in first["text"]
    assert '<a href="https://www.example.org/news/1?a=1&amp;b=2">' in first["text"]
    assert set(channels.tokens) == {"123:secret-token"}

    # the same batch built again, the article re-imported with an edit: nothing new is posted
    build_digests("immediate", BATCH)
    add_article("Nuova ciclabile <Crema & Ricengo>", ["mobility"], AT - timedelta(minutes=2))
    _send(runner)
    assert len(channels.posts) == 4
    assert {r.status for r in _rows()} == {DeliveryStatus.SENT}


def test_429_retry_after_is_honoured(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    app.config["TELEGRAM_CHANNELS"] = "all=@cremasco"
    channels.answers.append(
        (429, {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 42}})
    )
    add_article("Chiusa la Paullese", ["mobility"], AT - timedelta(minutes=2))
    build_digests("immediate", BATCH)
    started = datetime.now(UTC)
    _send(runner)
    (row,) = _rows()
    assert row.status is DeliveryStatus.QUEUED
    assert row.next_attempt_at >= started + timedelta(seconds=41)
    assert row.last_error is not None
    assert "429" in row.last_error
    assert channels.posts == []


def test_posts_to_one_channel_are_spaced(app: Flask, channels: TelegramApi) -> None:
    app.config.update(TELEGRAM_CHANNELS="all=@cremasco", TELEGRAM_POST_INTERVAL=3.0)
    for n in range(3):
        add_article(f"Notizia {n}", ["welfare"], AT - timedelta(minutes=3 - n))
    build_digests("immediate", BATCH)
    due = sorted(r.next_attempt_at for r in _rows())
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(due)] == [3.0, 3.0]


def test_a_bad_channel_setting_stops_the_start() -> None:
    assert parse_channels("mobility=@a, comune:crema=-100123") != []
    for bad in ("mobility", "mobility=channel", "=@a"):
        with pytest.raises(ConfigurationError, match="TELEGRAM_CHANNELS"):
            parse_channels(bad)


def test_without_a_bot_token_nothing_is_queued(app: Flask, telegram_api: TelegramApi) -> Any:
    app.config.update(TELEGRAM_CHANNELS="all=@cremasco", TELEGRAM_BOT_TOKEN=None)
    add_article("Notizia", ["welfare"], AT - timedelta(minutes=2))
    build_digests("immediate", BATCH)
    assert _rows() == []


def test_an_english_channel_links_the_article_in_english(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    app.config["TELEGRAM_CHANNELS"] = "all=@cremasco,mobility=@cremasco_en:en"
    add_article("Nuova ciclabile", ["mobility"], AT - timedelta(minutes=2), url="https://e.org/n/1")
    build_digests("immediate", BATCH)
    _send(runner)
    texts = {p["chat_id"]: p["text"] for p in channels.posts}
    assert texts["@cremasco"].endswith('<a href="https://e.org/n/1">Leggi la notizia</a>')
    assert texts["@cremasco_en"].endswith('<a href="https://e.org/n/1">Read the article</a>')
    assert texts["@cremasco_en"].startswith("<b>Nuova ciclabile</b>")  # the article's own words
