"""The sender's fast token maker gives what itsdangerous gives, and itsdangerous reads it."""

from __future__ import annotations

import pytest
import time_machine
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from newsletter.signing import IntSigner

IDS = [0, 1, 7, 42, 99999, 1111111111, 9999999999, 10**10, 12345678901234, -5]


@pytest.mark.parametrize("kind", [URLSafeSerializer, URLSafeTimedSerializer])
def test_same_bytes_as_itsdangerous_and_readable(
    kind: type[URLSafeSerializer] | type[URLSafeTimedSerializer],
) -> None:
    serializer = kind("a secret", salt="newsletter.unsubscribe")
    fast = IntSigner(serializer)
    with time_machine.travel(1_790_000_000, tick=False):
        for value in IDS:
            token = fast.dumps(value)
            assert token == serializer.dumps(value)
            assert serializer.loads(token) == value


def test_another_key_or_salt_does_not_read_it() -> None:
    token = IntSigner(URLSafeTimedSerializer("a secret", salt="newsletter.unsubscribe")).dumps(5)
    with pytest.raises(Exception, match="Signature"):
        URLSafeTimedSerializer("a secret", salt="newsletter.preferences").loads(token)
    with pytest.raises(Exception, match="Signature"):
        URLSafeTimedSerializer("other", salt="newsletter.unsubscribe").loads(token)
