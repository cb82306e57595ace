"""The feed cache: one slot per (feed, format), replaced on a new version, bounded."""

from __future__ import annotations

import re

from newsletter.feeds.cache import FeedCache
from newsletter.feeds.service import RenderedFeed, body_etag


def feed(body: bytes) -> RenderedFeed:
    return RenderedFeed(body, body_etag(body), None)


def test_a_slot_answers_only_for_its_version() -> None:
    cache = FeedCache()
    cache.put("all", "rss", ("v1",), feed(b"one"))
    assert cache.get("all", "rss", ("v1",)) == feed(b"one")
    assert cache.get("all", "rss", ("v2",)) is None
    assert cache.get("all", "atom", ("v1",)) is None
    cache.put("all", "rss", ("v2",), feed(b"two"))
    assert cache.get("all", "rss", ("v1",)) is None
    assert len(cache) == 1


def test_least_recently_used_slot_goes_first() -> None:
    cache = FeedCache(max_slots=2)
    cache.put("all", "rss", "a", feed(b"a"))
    cache.put("all", "atom", "b", feed(b"b"))
    assert cache.get("all", "rss", "a") == feed(b"a")
    cache.put("all", "json", "c", feed(b"c"))
    assert cache.get("all", "atom", "b") is None
    assert cache.get("all", "rss", "a") == feed(b"a")
    assert len(cache) == 2


def test_etag_is_the_hash_of_the_bytes() -> None:
    assert body_etag(b"<rss/>") == body_etag(b"<rss/>")
    assert body_etag(b"<rss/>") != body_etag(b"<rss />")
    assert re.fullmatch(r'"[0-9a-f]{32}"', body_etag(b""))
