"""Signing keys for every serializer, so ``SECRET_KEY`` can be rotated without breaking links.

Unsubscribe and preference links never expire, and mail already sent cannot be changed: after a
rotation the old key must still *verify* while only the new one *signs*. Flask 3.1 does this for
the session cookie with ``SECRET_KEY_FALLBACKS``; our own serializers (subscriber links, VERP
return paths, CSRF tokens) take the same keys from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def parse_fallbacks(raw: str | Iterable[str] | None) -> list[str]:
    """``NEWSLETTER_SECRET_KEY_FALLBACKS``: comma-separated (or a list), most recent first."""
    if raw is None:
        return []
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    keys: list[str] = []
    for part in parts:
        key = str(part).strip()
        if key and key not in keys:
            keys.append(key)
    return keys


def secret_keys(config: Mapping[str, Any]) -> list[str]:
    """itsdangerous's key list: oldest first, the current ``SECRET_KEY`` last (it signs)."""
    current = str(config["SECRET_KEY"])
    fallbacks = [k for k in parse_fallbacks(config.get("SECRET_KEY_FALLBACKS")) if k != current]
    return [*reversed(fallbacks), current]
