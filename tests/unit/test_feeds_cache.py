"""The feed cache: one slot per (feed, format), replaced on a new version, bounded."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.feeds.cache import FeedCache
from newsletter.feeds.service import FeedFormat, FeedVersion


def test_a_slot_answers_only_for_its_etag() -> None:
    cache = FeedCache()
    cache.put("all", "rss", '"v1"', b"one")
    assert cache.get("all", "rss", '"v1"') == b"one"
    assert cache.get("all", "rss", '"v2"') is None
    assert cache.get("all", "atom", '"v1"') is None
    cache.put("all", "rss", '"v2"', b"two")
    assert cache.get("all", "rss", '"v1"') is None
    assert len(cache) == 1


def test_least_recently_used_slot_goes_first() -> None:
    cache = FeedCache(max_slots=2)
    cache.put("all", "rss", "a", b"a")
    cache.put("all", "atom", "b", b"b")
    assert cache.get("all", "rss", "a") == b"a"
    cache.put("all", "json", "c", b"c")
    assert cache.get("all", "atom", "b") is None
    assert cache.get("all", "rss", "a") == b"a"
    assert len(cache) == 2


def test_etag_follows_content_format_and_settings() -> None:
    when = datetime(2024, 11, 18, 9, 30, 15, 123456, tzinfo=UTC)
    version = FeedVersion("all", None, "", "", when, 3, 7)
    etag = version.etag(FeedFormat.RSS, "https://a|None|50")
    assert etag == FeedVersion("all", None, "", "", when, 3, 7).etag(
        FeedFormat.RSS, "https://a|None|50"
    )
    others = {
        FeedVersion("all", None, "", "", when, 2, 7).etag(FeedFormat.RSS, "https://a|None|50"),
        FeedVersion("all", None, "", "", when, 3, 8).etag(FeedFormat.RSS, "https://a|None|50"),
        FeedVersion("all", None, "", "", when.replace(microsecond=0), 3, 7).etag(
            FeedFormat.RSS, "https://a|None|50"
        ),
        version.etag(FeedFormat.ATOM, "https://a|None|50"),
        version.etag(FeedFormat.RSS, "https://b|None|50"),
        FeedVersion("energy", 3, "Energia", "", when, 3, 7).etag(
            FeedFormat.RSS, "https://a|None|50"
        ),
        FeedVersion("energy", 3, "Energia!", "", when, 3, 7).etag(
            FeedFormat.RSS, "https://a|None|50"
        ),
    }
    assert etag not in others
    assert len(others) == 7
    assert version.last_modified == when.replace(microsecond=0)
