"""Composition: the pure function from articles, period and audience to sections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsletter.digests.compose import (
    ArticleSnapshot,
    Audience,
    compose,
    should_send,
    topic_sets,
)
from newsletter.digests.windows import Period

END = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
WEEK = Period("weekly", "weekly:2026-W48", END - timedelta(days=7), END)
ALL = ("energy", "governance", "mobility", "welfare")


def article(
    n: int, topics: tuple[str, ...], days_before_end: float, **kw: object
) -> ArticleSnapshot:
    when = END - timedelta(days=days_before_end)
    fields: dict[str, object] = {
        "id": n,
        "title": f"Article {n}",
        "url": f"https://example.org/{n}",
        "summary": "",
        "published_at": when,
        "created_at": when,
        "topics": topics,
    }
    fields.update(kw)
    return ArticleSnapshot(**fields)  # type: ignore[arg-type]


def keys(content: object) -> list[tuple[str, list[int]]]:
    return [(s.key, [a.id for a in s.articles]) for s in content.sections]  # type: ignore[attr-defined]


def test_an_article_in_two_topics_appears_once_in_the_first_section() -> None:
    both = article(1, ("welfare", "energy"), 2)
    content = compose([both], WEEK, Audience("citizen", "weekly", "it", ("energy", "welfare")))
    assert keys(content) == [("welfare", [1])]
    assert content.article_count == 1


def test_sections_follow_the_fixed_topic_order_then_position() -> None:
    articles = [
        article(1, ("governance",), 1),
        article(2, ("energy",), 2),
        article(3, ("mobility",), 3),
        article(4, ("welfare",), 4),
        article(5, ("culture",), 1),
        article(6, ("sport",), 1),
    ]
    audience = Audience("citizen", "weekly", "it", (*ALL, "culture", "sport"))
    content = compose(articles, WEEK, audience, topic_positions={"sport": 5, "culture": 6})
    assert [key for key, _ in keys(content)] == [
        "welfare",
        "mobility",
        "energy",
        "governance",
        "sport",
        "culture",
    ]


def test_newest_first_within_a_section() -> None:
    articles = [article(1, ("energy",), 5), article(2, ("energy",), 1), article(3, ("energy",), 3)]
    content = compose(articles, WEEK, Audience("citizen", "weekly", "en", ("energy",)))
    assert keys(content) == [("energy", [2, 3, 1])]


def test_only_the_readers_topics_hidden_and_out_of_window_articles_are_left_out() -> None:
    articles = [
        article(1, ("energy",), 1),
        article(2, ("mobility",), 1),
        article(3, ("energy",), 1, hidden=True),
        article(4, ("energy",), 8),  # previous week
        article(5, ("energy",), -0.01),  # after the window's end
    ]
    content = compose(articles, WEEK, Audience("citizen", "weekly", "it", ("energy",)))
    assert keys(content) == [("energy", [1])]


def test_a_late_arrival_counts_when_received_and_old_imports_never() -> None:
    late = article(1, ("energy",), 9, created_at=END - timedelta(days=1))
    old_import = article(2, ("energy",), 30, created_at=END - timedelta(days=1))
    future = article(3, ("energy",), 1, created_at=END - timedelta(days=20))
    content = compose(
        [late, old_import, future], WEEK, Audience("citizen", "weekly", "it", ("energy",))
    )
    assert keys(content) == [("energy", [3, 1])]
    previous = Period("weekly", "weekly:2026-W47", WEEK.start - timedelta(days=7), WEEK.start)
    assert compose([late], previous, Audience("citizen", "weekly", "it", ("energy",))).is_empty


def test_an_empty_digest_is_not_sent_unless_configured() -> None:
    content = compose(
        [article(1, ("mobility",), 1)], WEEK, Audience("citizen", "weekly", "it", ("energy",))
    )
    assert content.is_empty
    assert content.sections == ()
    assert not should_send(content, send_empty=False)
    assert should_send(content, send_empty=True)


def test_mayors_get_their_municipality_first_and_then_every_topic() -> None:
    articles = [
        article(1, ("energy",), 1, municipality_ids=(7,)),
        article(2, ("welfare",), 2, municipality_ids=(8,)),
        article(3, ("welfare", "governance"), 3, municipality_ids=(7, 8)),
        article(4, (), 4, municipality_ids=(7,)),
    ]
    mayor = Audience("mayor", "weekly", "it", ALL, municipality_id=7, municipality_name="Crema")
    assert keys(compose(articles, WEEK, mayor)) == [("municipality", [1, 3, 4]), ("welfare", [2])]
    official = Audience("official", "weekly", "it", ALL)
    assert keys(compose(articles, WEEK, official)) == [
        ("welfare", [2, 3]),
        ("energy", [1]),
    ]


def test_a_mayor_with_nothing_local_keeps_an_empty_first_section() -> None:
    mayor = Audience("mayor", "weekly", "en", ALL, municipality_id=9, municipality_name="Vaiano")
    content = compose([article(1, ("energy",), 1)], WEEK, mayor)
    assert keys(content) == [("municipality", []), ("energy", [1])]
    assert compose([], WEEK, mayor).is_empty
    assert compose([], WEEK, mayor).sections == ()


def test_audience_keys_name_the_variant() -> None:
    assert Audience("citizen", "weekly", "it", ("energy", "welfare")).key == (
        "citizen:weekly:energy+welfare:it"
    )
    assert Audience("immediate", "immediate", "en", ("mobility",)).key == "immediate:mobility:en"
    assert Audience("mayor", "weekly", "it", ALL, 12, "Crema").key == "mayor:12:it"
    assert Audience("edition", "weekly", "it", ALL).key == "edition:weekly:it"


def test_four_topics_make_fifteen_topic_sets() -> None:
    sets = topic_sets(ALL)
    assert len(sets) == len(set(sets)) == 15
    assert ("energy", "welfare") in sets
    assert all(list(s) == sorted(s) for s in sets)
