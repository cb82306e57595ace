"""Signed links: one salt per purpose, so a token made for one thing opens nothing else."""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from newsletter.exceptions import ExpiredToken, InvalidToken
from newsletter.extensions import db
from newsletter.signing import FastSigner, secret_keys
from newsletter.subscriptions.models import Subscriber


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    EXPORT = "export"
    UNSUBSCRIBE_ALERTS = "unsubscribe-alerts"  # urgent alerts only; the digests stay


def _max_age(purpose: Purpose) -> int | None:
    """Confirm and export links expire; preferences and unsubscribe links in old mail work."""
    if purpose is Purpose.CONFIRM:
        return int(current_app.config["CONFIRM_TOKEN_MAX_AGE"])
    if purpose is Purpose.EXPORT:
        return int(current_app.config["EXPORT_TOKEN_MAX_AGE"])
    return None


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    cache = current_app.extensions.setdefault("newsletter.token_serializers", {})
    found = cache.get(purpose)
    if found is None:
        found = cache[purpose] = URLSafeTimedSerializer(
            secret_keys(current_app.config), salt=f"newsletter.{purpose.value}"
        )
    return found  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Claim:
    """What a valid signature says: the subscriber's id and link key, and when it was signed."""

    subscriber_id: int
    link_key: str | None  # None: a link mailed before links carried a key
    issued_at: datetime


def make_token(purpose: Purpose, subscriber_id: int, link_key: str) -> str:
    """A link for one subscriber: its id and its random link key, signed for one purpose."""
    return str(_serializer(purpose).dumps([subscriber_id, link_key]))


def token_signer(purpose: Purpose) -> FastSigner:
    """What ``make_token`` does, for the sender's hot path (two links per message):
    ``token_signer(p).dumps([subscriber_id, link_key]) == make_token(p, subscriber_id, link_key)``.
    """
    cache = current_app.extensions.setdefault("newsletter.token_signers", {})
    found = cache.get(purpose)
    if found is None:
        found = cache[purpose] = FastSigner(_serializer(purpose))
    return found  # type: ignore[no-any-return]


def token_for(purpose: Purpose, subscriber: Subscriber) -> str:
    return make_token(purpose, subscriber.id, subscriber.link_key)


def read_token(purpose: Purpose, token: str) -> Claim:
    """The claim in a token, or InvalidToken (forged, expired, other purpose)."""
    try:
        value, issued = _serializer(purpose).loads(
            token, max_age=_max_age(purpose), return_timestamp=True
        )
    except SignatureExpired:
        raise ExpiredToken("this link has expired") from None
    except BadSignature:
        raise InvalidToken("this link is not valid") from None
    if _is_id(value):  # before link keys: the bare id
        return Claim(value, None, issued)
    if (
        isinstance(value, list)
        and len(value) == 2
        and _is_id(value[0])
        and isinstance(value[1], str)
        and value[1]
    ):
        return Claim(value[0], value[1], issued)
    raise InvalidToken("this link is not valid")


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def belongs_to(claim: Claim, subscriber: Subscriber) -> bool:
    """Whether a valid token was made for this very subscriber, not an earlier holder of the id.

    A keyed link must carry the subscriber's current key (a new row, or an erased one, has
    another). An old link without a key counts only if it was signed after the row was made:
    an id that came to mean somebody else later never gets their links."""
    if claim.link_key is not None:
        return hmac.compare_digest(claim.link_key, subscriber.link_key)
    created = subscriber.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return claim.issued_at >= created.replace(microsecond=0)


def subscriber_for(purpose: Purpose, token: str) -> Subscriber | None:
    """The subscriber a link is for; None when they are gone or the link is not theirs.
    InvalidToken when the signature is bad or expired."""
    claim = read_token(purpose, token)
    subscriber = db.session.get(Subscriber, claim.subscriber_id)
    if subscriber is None or not belongs_to(claim, subscriber):
        return None
    return subscriber
