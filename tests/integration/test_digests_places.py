"""A citizen's comune in their digest: "Nel tuo comune" first, local_news, few variants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from newsletter.delivery.models import Delivery
from newsletter.digests.models import Digest
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from newsletter.reference.service import municipality_by_name
from newsletter.subscriptions.models import Subscriber
from tests.fixtures.digests import WEEKLY_FIRE, add_article, add_subscriber

WEEK = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


def _digest_of(email: str) -> Digest:
    digest = db.session.scalar(
        sa.select(Digest)
        .join(Delivery, Delivery.digest_id == Digest.id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Subscriber.email == email)
    )
    assert digest is not None, f"no digest for {email}"
    return digest


def _week() -> dict[str, Any]:
    return {
        "school": add_article(
            "Offanengo, nuovo asilo nido comunale",
            ["welfare"],
            WEEK.replace(day=17, hour=9),
            municipalities=["Offanengo"],
        ),
        "fair": add_article(
            "Offanengo, la fiera di San Lorenzo torna in piazza",
            ["governance"],
            WEEK.replace(day=18, hour=9),
            municipalities=["Offanengo"],
        ),
        "crema": add_article(
            "Crema, sportello per le famiglie",
            ["welfare"],
            WEEK.replace(day=19, hour=9),
            municipalities=["Crema"],
        ),
    }


def test_the_digest_opens_with_the_comune_on_the_citizens_topics(app: Flask) -> None:
    week = _week()
    add_subscriber("ofelia@example.org", ["welfare"], municipality="Offanengo")
    add_subscriber("oscar@example.org", ["welfare"], municipality="Offanengo", locale="en")
    build_digests("weekly", WEEKLY_FIRE)

    digest = _digest_of("ofelia@example.org")
    text = digest.text
    assert "Nel tuo comune: Offanengo" in text
    assert text.index("Nel tuo comune: Offanengo") < text.index("Offanengo, nuovo asilo")
    assert text.index("Offanengo, nuovo asilo") < text.index("Crema, sportello")
    assert "fiera di San Lorenzo" not in text  # governance: not a topic of hers
    assert [link.article_id for link in digest.article_links] == [
        week["school"].id,
        week["crema"].id,
    ]
    assert "Nel tuo comune: Offanengo" in digest.html
    assert "In your municipality: Offanengo" in _digest_of("oscar@example.org").text


def test_local_news_adds_the_comunes_articles_whatever_their_topic(app: Flask) -> None:
    _week()
    add_subscriber("with@example.org", ["welfare"], municipality="Offanengo", local_news=True)
    add_subscriber("without@example.org", ["welfare"], municipality="Offanengo")
    build_digests("weekly", WEEKLY_FIRE)

    assert "fiera di San Lorenzo" in _digest_of("with@example.org").text
    assert "fiera di San Lorenzo" not in _digest_of("without@example.org").text


def test_a_comune_and_no_topic_is_local_news_only(app: Flask) -> None:
    _week()
    add_subscriber("local@example.org", [], municipality="Offanengo", local_news=True)
    add_subscriber("nothing@example.org", [], municipality="Offanengo")
    build_digests("weekly", WEEKLY_FIRE)

    digest = _digest_of("local@example.org")
    assert digest.text.count("Offanengo,") == 2
    assert "Crema, sportello" not in digest.text
    assert digest.subject == "Questa settimana: 2 articoli su Offanengo"
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Subscriber.email == "nothing@example.org")
        )
        == 0
    )


def test_variants_collapse_when_the_comune_adds_nothing(app: Flask) -> None:
    """Readers whose comune has nothing for them this week share the plain topics variant,
    and local_news that adds nothing beyond the topics is the same variant as without it."""
    _week()
    add_subscriber("plain@example.org", ["welfare"])
    add_subscriber("quiet@example.org", ["welfare"], municipality="Soncino", local_news=True)
    add_subscriber("a@example.org", ["welfare", "governance"], municipality="Offanengo")
    add_subscriber(
        "b@example.org", ["welfare", "governance"], municipality="Offanengo", local_news=True
    )
    build_digests("weekly", WEEKLY_FIRE)

    offanengo = municipality_by_name("Offanengo").id
    assert _digest_of("quiet@example.org").audience_key == "citizen:weekly:welfare:it"
    assert _digest_of("plain@example.org").audience_key == "citizen:weekly:welfare:it"
    assert _digest_of("a@example.org").audience_key == _digest_of("b@example.org").audience_key
    assert _digest_of("a@example.org").audience_key == (
        f"citizen:weekly:governance+welfare:it:m{offanengo}"
    )


def test_immediate_readers_get_their_comune_too(app: Flask) -> None:
    fire = WEEKLY_FIRE
    add_article(
        "Offanengo, chiusa via Roma",
        ["mobility"],
        fire - timedelta(minutes=5),
        municipalities=["Offanengo"],
    )
    add_subscriber(
        "now@example.org", [], municipality="Offanengo", local_news=True, frequency="immediate"
    )
    result = build_digests("immediate", fire)
    assert result.deliveries == 1
    assert "Nel tuo comune: Offanengo" in _digest_of("now@example.org").text


def test_mayors_digest_is_unchanged(app: Flask, digest_data: Callable[..., Any]) -> None:
    digest_data()
    build_digests("weekly", WEEKLY_FIRE)
    crema = municipality_by_name("Crema").id
    assert _digest_of("sindaco@example.org").audience_key == f"mayor:{crema}:it"
