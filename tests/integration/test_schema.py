"""The database itself enforces the invariants, whatever the code above it does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.digests.models import Digest, DigestKind
from newsletter.extensions import db
from newsletter.reference.models import Topic
from newsletter.subscriptions.models import Subscriber, Subscription

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _digest(audience: str = "citizen:weekly:welfare:it", period: str = "weekly:2026-W48") -> Digest:
    return Digest(
        audience_key=audience,
        period_key=period,
        kind=DigestKind.CITIZEN,
        frequency="weekly",
        locale="it",
        window_start=NOW,
        window_end=NOW,
        subject="s",
        html="<p>h</p>",
        text="t",
    )


def test_models_and_migrations_agree(app: object) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migration_seeds_the_four_topics(app: object) -> None:
    slugs = db.session.scalars(sa.select(Topic.slug).order_by(Topic.position)).all()
    assert slugs == ["welfare", "mobility", "energy", "governance"]


def test_subscriber_email_is_unique_in_any_case(app: object) -> None:
    db.session.add(Subscriber(email="Sindaco@Comune.Crema.CR.it"))
    db.session.commit()
    assert db.session.scalar(sa.select(Subscriber.email)) == "sindaco@comune.crema.cr.it"
    db.session.add(Subscriber(email="SINDACO@comune.crema.cr.it"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_mixed_case_email_refused_even_through_raw_sql(app: object) -> None:
    db.session.add(Subscriber(email="a@example.org"))
    db.session.commit()
    insert = sa.text(
        "INSERT INTO subscriber (email, locale, status, role, frequency, created_at, "
        "soft_bounces, link_key) "
        "VALUES ('A@example.org', 'it', 'active', 'citizen', 'weekly', :now, 0, 'k')"
    )
    with pytest.raises(IntegrityError):
        db.session.execute(insert, {"now": NOW.replace(tzinfo=None)})
    db.session.rollback()


def test_subscription_is_unique_per_subscriber_and_topic(app: object) -> None:
    subscriber = Subscriber(email="x@example.org")
    topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "energy"))
    db.session.add(subscriber)
    db.session.flush()
    db.session.execute(
        sa.insert(Subscription).values(
            subscriber_id=subscriber.id, topic_id=topic.id, created_at=NOW
        )
    )
    with pytest.raises(IntegrityError):
        db.session.execute(
            sa.insert(Subscription).values(
                subscriber_id=subscriber.id, topic_id=topic.id, created_at=NOW
            )
        )
    db.session.rollback()


def test_digest_is_unique_per_audience_and_period(app: object) -> None:
    db.session.add(_digest())
    db.session.commit()
    db.session.add(_digest())
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(_digest(period="weekly:2026-W49"))
    db.session.commit()  # another period of the same audience is fine


def test_delivery_is_unique_per_digest_and_subscriber(app: object) -> None:
    digest = _digest()
    subscriber = Subscriber(email="y@example.org")
    db.session.add_all([digest, subscriber])
    db.session.flush()
    db.session.add(
        Delivery(kind=DeliveryKind.DIGEST, digest_id=digest.id, subscriber_id=subscriber.id)
    )
    db.session.commit()
    db.session.add(
        Delivery(kind=DeliveryKind.DIGEST, digest_id=digest.id, subscriber_id=subscriber.id)
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_service_mails_without_digest_do_not_collide(app: object) -> None:
    subscriber = Subscriber(email="z@example.org")
    db.session.add(subscriber)
    db.session.flush()
    for _ in range(2):
        db.session.add(Delivery(kind=DeliveryKind.CONFIRM, subscriber_id=subscriber.id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 2


def test_timestamps_come_back_as_aware_utc(app: object) -> None:
    subscriber = Subscriber(email="t@example.org", confirmed_at=NOW)
    db.session.add(subscriber)
    db.session.commit()
    db.session.expire_all()
    loaded = db.session.get(Subscriber, subscriber.id)
    assert loaded is not None
    assert loaded.confirmed_at == NOW
    assert loaded.confirmed_at.utcoffset() is not None
    assert loaded.created_at.tzinfo is not None


def test_deleting_a_subscriber_cascades_to_subscriptions_but_not_to_the_outbox(
    app: object,
) -> None:
    """The outbox has no foreign keys (a digest build inserts 100,000 rows at once, and their
    checks were over half of its time): subscriptions' erase deletes the rows through
    ``outbox.forget`` (tests/integration/test_subscriptions_service.py), not the database."""
    subscriber = Subscriber(email="c@example.org")
    topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "welfare"))
    subscriber.subscriptions.append(Subscription(topic=topic))
    db.session.add(subscriber)
    db.session.flush()
    db.session.add(Delivery(kind=DeliveryKind.CONFIRM, subscriber_id=subscriber.id))
    db.session.commit()
    db.session.execute(sa.delete(Subscriber).where(Subscriber.id == subscriber.id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscription)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 1
    foreign = sa.inspect(db.engine).get_foreign_keys("delivery")
    assert [fk["constrained_columns"] for fk in foreign] == []
