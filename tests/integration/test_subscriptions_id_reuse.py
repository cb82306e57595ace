"""A link outlives no one: ids are never reused, and every link carries the subscriber's key.

Issue 12, item 2: on SQLite the id of an erased last row came back for the next subscriber, and
the erased person's old /confirm/ link activated the newcomer, their /preferences/ link showed
the newcomer's address. Both causes are tested: the ids, and the key in the signed payload
(forcing the old id onto a new row, which no code path does, proves the key alone holds).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from newsletter.extensions import db
from newsletter.signing import secret_keys
from newsletter.subscriptions import service
from newsletter.subscriptions.models import Frequency, Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose, read_token, token_for
from tests.fixtures.subscriptions import csrf_token, subscriber_by_email

MAKE = Callable[..., Subscriber]


def _links(subscriber: Subscriber) -> dict[Purpose, str]:
    return {purpose: token_for(purpose, subscriber) for purpose in Purpose}


def _assert_links_open_nothing(client: FlaskClient, links: dict[Purpose, str]) -> None:
    token = csrf_token(client)  # a real session's CSRF token: only the link is wrong
    assert client.get(f"/confirm/{links[Purpose.CONFIRM]}").status_code == 404
    confirm = client.post(f"/confirm/{links[Purpose.CONFIRM]}", data={"csrf_token": token})
    assert confirm.status_code == 404
    page = client.get(f"/preferences/{links[Purpose.PREFERENCES]}")
    assert page.status_code == 404
    assert "bruno@example.org" not in page.get_data(as_text=True)
    export = client.get(f"/export/{links[Purpose.EXPORT]}")
    assert export.status_code == 404
    assert "bruno@example.org" not in export.get_data(as_text=True)
    path = f"/preferences/{links[Purpose.PREFERENCES]}"
    changed = client.post(
        path,
        data={"csrf_token": token, "frequency": "weekly", "locale": "en", "topics": "energy"},
    )
    assert changed.status_code == 404
    erased = client.post(f"{path}/erase", data={"csrf_token": token})
    assert erased.status_code == 404
    one_click = client.post(
        f"/unsubscribe/{links[Purpose.UNSUBSCRIBE]}", data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200  # nothing to do is not an error for a mail client


def test_an_erased_persons_links_do_nothing_for_the_next_subscriber(
    client: FlaskClient, make_subscriber: MAKE
) -> None:
    make_subscriber("carla@example.org")
    anna = make_subscriber("anna@example.org", SubscriberStatus.PENDING)
    anna_id, links = anna.id, _links(anna)
    service.erase(anna_id)

    service.subscribe(
        service.SubscribeRequest("bruno@example.org", ("welfare",), Frequency.DAILY, "it")
    )
    bruno = subscriber_by_email("bruno@example.org")
    assert bruno is not None
    assert bruno.id > anna_id  # never the erased person's id, on SQLite too

    _assert_links_open_nothing(client, links)
    bruno = subscriber_by_email("bruno@example.org")
    assert bruno is not None
    assert bruno.status is SubscriberStatus.PENDING  # no consent was given by a stranger's link
    assert bruno.frequency is Frequency.DAILY


def test_the_key_alone_keeps_a_reused_id_safe(client: FlaskClient, make_subscriber: MAKE) -> None:
    """Even a row that gets the erased id (a restore, raw SQL) is not opened by old links."""
    anna = make_subscriber("anna@example.org", SubscriberStatus.PENDING)
    anna_id, links = anna.id, _links(anna)
    service.erase(anna_id)
    db.session.add(
        Subscriber(
            id=anna_id,
            email="bruno@example.org",
            status=SubscriberStatus.PENDING,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    db.session.commit()
    _assert_links_open_nothing(client, links)
    bruno = subscriber_by_email("bruno@example.org")
    assert bruno is not None
    assert bruno.status is SubscriberStatus.PENDING


def test_the_same_address_subscribing_again_gets_new_links(
    client: FlaskClient, make_subscriber: MAKE
) -> None:
    anna = make_subscriber("anna@example.org")
    old_key, old = anna.link_key, _links(anna)
    service.erase(anna.id)
    again = make_subscriber("anna@example.org")
    assert again.link_key != old_key
    assert client.get(f"/preferences/{old[Purpose.PREFERENCES]}").status_code == 404
    fresh = client.get(f"/preferences/{token_for(Purpose.PREFERENCES, again)}")
    assert fresh.status_code == 200
    assert "anna@example.org" in fresh.get_data(as_text=True)


def test_keys_are_random_per_subscriber(make_subscriber: MAKE) -> None:
    keys = {make_subscriber(f"p{i}@example.org").link_key for i in range(20)}
    assert len(keys) == 20
    assert all(len(key) >= 16 for key in keys)


def _legacy(app: Flask, purpose: Purpose, subscriber_id: int, at: datetime) -> str:
    """A link as mailed before links carried a key: the bare id, signed at ``at``."""
    import time_machine

    serializer = URLSafeTimedSerializer(secret_keys(app.config), salt=f"newsletter.{purpose}")
    with time_machine.travel(at, tick=False):
        return str(serializer.dumps(subscriber_id))


def test_links_mailed_before_keys_work_only_for_who_they_were_mailed_to(
    app: Flask, client: FlaskClient, make_subscriber: MAKE
) -> None:
    anna = make_subscriber("anna@example.org")  # created 2026-01-01
    mailed = _legacy(app, Purpose.PREFERENCES, anna.id, datetime(2026, 3, 1, tzinfo=UTC))
    assert read_token(Purpose.PREFERENCES, mailed).link_key is None
    page = client.get(f"/preferences/{mailed}")
    assert page.status_code == 200
    assert "anna@example.org" in page.get_data(as_text=True)
    path = f"/preferences/{mailed}"
    saved = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "frequency": "daily",
            "locale": "it",
            "topics": "energy",
        },
    )
    assert saved.status_code == 303

    # A link signed before this row existed was mailed to an earlier holder of the id.
    older = _legacy(app, Purpose.PREFERENCES, anna.id, datetime(2025, 6, 1, tzinfo=UTC))
    assert client.get(f"/preferences/{older}").status_code == 404
    unsubscribe = _legacy(app, Purpose.UNSUBSCRIBE, anna.id, datetime(2025, 6, 1, tzinfo=UTC))
    client.post(f"/unsubscribe/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
    db.session.expire_all()
    status = db.session.scalar(sa.select(Subscriber.status).where(Subscriber.id == anna.id))
    assert status is SubscriberStatus.ACTIVE
