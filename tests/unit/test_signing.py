"""The sender's fast token maker gives what itsdangerous gives, and itsdangerous reads it."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import time_machine
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from newsletter.signing import FastSigner

PAYLOADS: list[Any] = [
    0,
    7,
    99999,
    9999999999,
    12345678901234,
    *([n, secrets.token_urlsafe(16)] for n in (1, 42, 123456, 2**31)),
]


@pytest.mark.parametrize("kind", [URLSafeSerializer, URLSafeTimedSerializer])
def test_same_bytes_as_itsdangerous_and_readable(
    kind: type[URLSafeSerializer] | type[URLSafeTimedSerializer],
) -> None:
    serializer = kind(["old key", "current key"], salt="newsletter.unsubscribe")
    fast = FastSigner(serializer)
    with time_machine.travel(1_790_000_000, tick=False):
        for value in PAYLOADS:
            token = fast.dumps(value)
            assert token == serializer.dumps(value)
            assert serializer.loads(token) == value


def test_signed_with_the_current_key_for_one_salt_only() -> None:
    token = FastSigner(URLSafeTimedSerializer(["old", "new"], salt="newsletter.unsubscribe")).dumps(
        [5, "key"]
    )
    assert URLSafeTimedSerializer("new", salt="newsletter.unsubscribe").loads(token) == [5, "key"]
    for other in (
        URLSafeTimedSerializer("old", salt="newsletter.unsubscribe"),
        URLSafeTimedSerializer("new", salt="newsletter.preferences"),
    ):
        with pytest.raises(BadSignature):
            other.loads(token)
