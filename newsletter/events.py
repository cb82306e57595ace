"""Domain events: what one domain announces and others react to, without importing it.

Signals are blinker's (Flask's own signal library), sent synchronously by the operation that
did the thing, inside its transaction; a receiver that writes joins that transaction. Receivers
are connected in the reacting domain's ``init_app`` (strong references, so they stay).

``delivery_bounced`` is the one event whose answer matters: delivery announces a hard bounce
(or enough soft ones) on a SQLAlchemy connection, subscriptions suppresses the subscriber and
writes the consent ledger, and returns True when that changed the subscriber's status.
"""

from __future__ import annotations

from blinker import Namespace

_events = Namespace()

#: sender: the visible Article, created, changed, re-topicked or shown again (flushed, not yet
#: committed); kwargs: ``created``.
article_published = _events.signal("article-published")
#: sender: the BuildResult of a build that stored new digests (before its commit); kwargs:
#: ``editions`` (how many of them are archive editions).
digest_built = _events.signal("digest-built")
#: sender: the Subscriber who confirmed (double opt-in done); kwargs: ``channel``.
subscriber_confirmed = _events.signal("subscriber-confirmed")
#: sender: the id of the subscriber who left (unsubscribed, or erased: then the row is gone);
#: kwargs: ``channel``, ``erased``.
subscriber_left = _events.signal("subscriber-left")
#: sender: the Period of an immediate batch, inside ``digests build --frequency immediate``'s
#: transaction; kwargs: ``period_key``, ``articles`` (the snapshots of the articles new in that
#: window). The channels beyond e-mail (push, Telegram) enqueue their rows for them.
immediate_batch = _events.signal("immediate-batch")
#: sender: the AlertNotice of an alert message just released (issued without approval, or
#: approved; an update or a cancellation), inside the releasing transaction. E-mail (alerts
#: itself), push and Telegram enqueue their rows for the people and channels concerned.
alert_released = _events.signal("alert-released")
#: sender: a sa.Connection (the sender's or the bounce processor's transaction); kwargs:
#: ``subscriber_id``, ``hard``, ``reason``, ``channel`` ("dsn" or "relay"), ``notice_version``,
#: ``soft_limit``, ``delivery_id``, ``status`` (the DSN status code, if any). Receivers
#: return True when the subscriber was suppressed.
delivery_bounced = _events.signal("delivery-bounced")
