"""Signed links: one salt per purpose, so a token made for one thing opens nothing else."""

from __future__ import annotations

import enum

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from newsletter.exceptions import InvalidToken
from newsletter.signing import IntSigner


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    EXPORT = "export"


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
            current_app.config["SECRET_KEY"], salt=f"newsletter.{purpose.value}"
        )
    return found  # type: ignore[no-any-return]


def token_signer(purpose: Purpose) -> IntSigner:
    """The fast maker of ``purpose`` tokens (the sender makes two per message)."""
    cache = current_app.extensions.setdefault("newsletter.token_signers", {})
    found = cache.get(purpose)
    if found is None:
        found = cache[purpose] = IntSigner(_serializer(purpose))
    return found  # type: ignore[no-any-return]


def make_token(purpose: Purpose, subscriber_id: int) -> str:
    return token_signer(purpose).dumps(subscriber_id)


def read_token(purpose: Purpose, token: str) -> int:
    """The subscriber id in a token, or InvalidToken (forged, expired, other purpose)."""
    try:
        value = _serializer(purpose).loads(token, max_age=_max_age(purpose))
    except SignatureExpired:
        raise InvalidToken("this link has expired") from None
    except BadSignature:
        raise InvalidToken("this link is not valid") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidToken("this link is not valid")
    return value
