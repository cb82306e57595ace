"""Reads of the subscriber tables that other domains need, defined here so that the rules of
who receives what stay with the domain that owns the people (others never write these tables).
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from newsletter.extensions import db
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from newsletter.vocabulary import Locale


def alert_audience(municipality_ids: Collection[int] | None) -> list[tuple[int, str]]:
    """Who receives an urgent alert by e-mail: (subscriber id, language), once per person.

    Active subscribers who asked for alerts (``alerts``) and whose comune is one of
    ``municipality_ids`` (``None``: an alert for every comune; an empty collection: nobody).
    Someone without a comune never receives alerts. A language we do not speak reads Italian.
    """
    if municipality_ids is not None and not municipality_ids:
        return []
    query = sa.select(Subscriber.id, Subscriber.locale).where(
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscriber.alerts.is_(True),
        Subscriber.municipality_id.is_not(None),
    )
    if municipality_ids is not None:
        query = query.where(Subscriber.municipality_id.in_(sorted(set(municipality_ids))))
    return [
        (int(sid), locale if Locale.knows(locale) else Locale.IT.value)
        for sid, locale in db.session.execute(query.order_by(Subscriber.id))
    ]
