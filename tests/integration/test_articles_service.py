"""Upsert, topics and mentions against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter.articles import service
from newsletter.articles.models import Article, ArticleTopic, SourceKind, TopicAssignment
from newsletter.audit import Actor
from newsletter.exceptions import ValidationError
from newsletter.extensions import db

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "articles.json"


def _item(**changes: object) -> service.ArticleInput:
    data: dict[str, object] = {
        "external_id": "n-1",
        "title": "Nuova pista ciclabile tra Crema e Offanengo",
        "url": "https://comune.example/news/1",
        "published_at": "2026-11-20T09:00:00+01:00",
        "body_html": "<p>La pista ciclabile collega Crema e Offanengo.</p><script>x()</script>",
    }
    data.update(changes)
    return service.parse_article(data)


def _count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Article)) or 0)


@pytest.fixture
def source(app: Flask) -> object:
    return service.get_or_create_source("cms-test", SourceKind.PUSH)


def test_same_payload_twice_is_one_row_and_keeps_updated_at(
    source: object, municipalities: None
) -> None:
    first, created = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    assert created
    version = first.updated_at
    again, created_again = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    assert not created_again
    assert again.id == first.id
    assert again.updated_at == version
    assert _count() == 1
    changed, _ = service.upsert_and_commit(source, _item(title="Pista ciclabile: si parte"))  # type: ignore[arg-type]
    assert changed.updated_at > version
    assert changed.title == "Pista ciclabile: si parte"
    assert _count() == 1


def test_body_is_sanitised_and_plain_text_derived(source: object) -> None:
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    assert "<script" not in article.body_html
    assert article.body_text == "La pista ciclabile collega Crema e Offanengo."


def test_untagged_article_is_classified_with_scores(source: object) -> None:
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    assert article.topic_slugs == ["mobility"]
    link = article.topic_links[0]
    assert link.assigned_by == TopicAssignment.AUTO
    assert link.score is not None
    assert link.score > 0


def test_source_topics_are_kept_as_given(source: object) -> None:
    article, _ = service.upsert_and_commit(source, _item(topics=["energy", "welfare"]))  # type: ignore[arg-type]
    assert article.topic_slugs == ["energy", "welfare"]
    assert {link.assigned_by for link in article.topic_links} == {TopicAssignment.SOURCE}


def test_unknown_topic_is_a_field_error(source: object) -> None:
    with pytest.raises(ValidationError) as caught:
        service.upsert_article(source, _item(topics=["sport"]))  # type: ignore[arg-type]
    assert caught.value.details == {"topics": "unknown topic: sport"}
    assert _count() == 0


def test_editor_override_survives_reimport(source: object) -> None:
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    service.set_topics_by_editor(article.id, ["governance"], actor=Actor("tests"))
    for changes in ({}, {"title": "Cambiato"}, {"topics": ["mobility"]}):
        again, _ = service.upsert_and_commit(source, _item(**changes))  # type: ignore[arg-type]
        assert again.topic_slugs == ["governance"]
        assert again.topic_links[0].assigned_by == TopicAssignment.EDITOR
    assert again.topics_edited_at is not None


def test_editor_must_choose_a_known_topic(source: object) -> None:
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        service.set_topics_by_editor(article.id, [], actor=Actor("tests"))
    with pytest.raises(ValidationError):
        service.set_topics_by_editor(article.id, ["nope"], actor=Actor("tests"))


def test_hidden_articles_are_not_listed_and_stay_hidden(source: object) -> None:
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    service.set_hidden(article.id, True, actor=Actor("tests"))
    assert service.list_articles() == []
    service.upsert_and_commit(source, _item(title="Aggiornato"))  # type: ignore[arg-type]
    assert service.list_articles() == []
    service.set_hidden(article.id, False, actor=Actor("tests"))
    assert [a.title for a in service.list_articles()] == ["Aggiornato"]


def test_mentions_are_stored_and_follow_content(source: object, municipalities: None) -> None:
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    assert sorted(m.municipality.name for m in article.municipality_links) == [
        "Crema",
        "Offanengo",
    ]
    article, _ = service.upsert_and_commit(  # type: ignore[arg-type]
        source,
        _item(title="Il Cremasco a Spino d’Adda", body_html="<p>Festa cremasca</p>"),
    )
    assert [m.municipality.name for m in article.municipality_links] == ["Spino d'Adda"]


def test_list_filters_topic_since_and_orders_newest_first(source: object) -> None:
    for index, day in enumerate((18, 20, 19)):
        service.upsert_and_commit(  # type: ignore[arg-type]
            source,
            _item(external_id=f"n-{index}", published_at=f"2026-11-{day}T09:00:00Z"),
        )
    service.upsert_and_commit(source, _item(external_id="e", topics=["energy"]))  # type: ignore[arg-type]
    dates = [a.published_at.day for a in service.list_articles(topic="mobility")]
    assert dates == [20, 19, 18]
    since = datetime(2026, 11, 19, tzinfo=UTC)
    assert [a.external_id for a in service.list_articles(topic="mobility", since=since)] == [
        "n-1",
        "n-2",
    ]
    assert len(service.list_articles(limit=2)) == 2


T = "2026-11-20T09:00:00Z"
ID = {"external_id": "a"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"published_at": T, **ID}, "title"),
        ({"title": "x", "published_at": "2026-11-20T09:00:00", **ID}, "published_at"),
        ({"title": "x", "published_at": "20/11/2026", **ID}, "published_at"),
        ({"title": "x", "published_at": "2026-02-30T09:00:00Z", **ID}, "published_at"),
        ({"title": "x", "published_at": T}, "external_id"),
        ({"title": "x", "published_at": T, "url": "javascript:alert(1)"}, "url"),
        ({"title": 5, "published_at": T, **ID}, "title"),
        ({"title": "x", "published_at": T, "topics": "welfare", **ID}, "topics"),
        ({"title": "x", "published_at": T, "image_url": "data:x", **ID}, "image_url"),
        ({"title": "x" * 501, "published_at": T, **ID}, "title"),
        ({"title": "   ", "published_at": T, **ID}, "title"),
    ],
)
def test_validation_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        service.parse_article(data)
    assert field in caught.value.details


def test_external_id_defaults_to_url() -> None:
    item = service.parse_article(
        {"title": "x", "url": "https://e.it/a", "published_at": "2026-11-20T09:00:00+01:00"}
    )
    assert item.external_id == "https://e.it/a"
    assert item.published_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_import_fixture_file_twice(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["articles", "import", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    items = json.loads(FIXTURES.read_text(encoding="utf-8"))
    assert f"created {len(items)}, updated 0, skipped 0" in result.output
    again = runner.invoke(args=["articles", "import", str(FIXTURES)])
    assert f"created 0, updated 0, skipped {len(items)}" in again.output
    assert _count() == len(items)
    welfare = db.session.scalar(sa.select(Article).where(Article.external_id == items[0]["id"]))
    assert welfare is not None
    assert welfare.published_at == datetime(2024, 12, 1, 23, 0, tzinfo=UTC)  # midnight in Rome
    assert welfare.topic_slugs == sorted(items[0]["topics"])
    stored = db.session.scalars(sa.select(ArticleTopic)).all()
    assert {link.assigned_by for link in stored} == {TopicAssignment.SOURCE}


def test_bad_item_rejects_the_file_in_one_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    good = {"title": "ok", "url": "https://e.it/1", "published_at": "2026-11-20T09:00:00Z"}
    path.write_text(json.dumps([good, {**good, "url": "https://e.it/2", "published_at": "ieri"}]))
    result = runner.invoke(args=["articles", "import", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: item 1: published_at must be")
    assert len(result.output.strip().splitlines()) == 1
    assert _count() == 0
    path.write_text(json.dumps([good, {**good, "url": "https://e.it/2", "topics": ["sport"]}]))
    result = runner.invoke(args=["articles", "import", str(path)])
    assert result.exit_code == 1
    assert result.output == "Error: item 1: topics unknown topic: sport\n"
    assert _count() == 0
    path.write_text("{not json")
    result = runner.invoke(args=["articles", "import", str(path)])
    assert result.exit_code == 1
    assert "not JSON" in result.output


def test_demo_loader_is_idempotent(app: Flask, municipalities: None) -> None:
    from newsletter.articles.demo import SAMPLES, load_demo_articles

    load_demo_articles(app)
    load_demo_articles(app)
    assert _count() == len(SAMPLES)
    slugs = {slug for article in service.list_articles(limit=50) for slug in article.topic_slugs}
    assert slugs == {"welfare", "mobility", "energy", "governance"}


def test_refresh_finds_new_mentions_and_keeps_editor_and_source_topics(
    source: object, runner: FlaskCliRunner
) -> None:
    from newsletter.reference import service as reference
    from newsletter.reference.models import Municipality

    db.session.execute(sa.delete(Municipality))  # as before the comuni were seeded
    db.session.commit()
    auto, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]
    edited, _ = service.upsert_and_commit(source, _item(external_id="e"))  # type: ignore[arg-type]
    given, _ = service.upsert_and_commit(source, _item(external_id="g", topics=["energy"]))  # type: ignore[arg-type]
    service.set_topics_by_editor(edited.id, ["welfare"], actor=Actor("tests"))
    assert auto.municipality_links == []
    reference.import_bundled_municipalities()
    result = runner.invoke(args=["articles", "refresh"])
    assert result.exit_code == 0, result.output
    assert "mentions changed on 3" in result.output
    db.session.expire_all()
    assert [m.municipality.name for m in service.get_article(auto.id).municipality_links] == [
        "Crema",
        "Offanengo",
    ]
    assert service.get_article(edited.id).topic_slugs == ["welfare"]
    assert service.get_article(given.id).topic_slugs == ["energy"]
    assert service.get_article(auto.id).topic_slugs == ["mobility"]


def test_editor_mention_corrections_survive_reimport_and_refresh(
    source: object, runner: FlaskCliRunner
) -> None:
    from newsletter.reference.service import municipality_by_name

    crema = municipality_by_name("Crema").id
    pandino = municipality_by_name("Pandino").id
    article, _ = service.upsert_and_commit(source, _item())  # type: ignore[arg-type]

    def names() -> list[str]:
        db.session.expire_all()
        return sorted(
            m.municipality.name for m in service.get_article(article.id).municipality_links
        )

    assert names() == ["Crema", "Offanengo"]
    editor = Actor("editor@example.org")
    service.set_municipality_by_editor(article.id, crema, False, actor=editor)
    service.set_municipality_by_editor(article.id, pandino, True, actor=editor)
    assert names() == ["Offanengo", "Pandino"]
    # A re-import with a changed text re-detects, and the corrections are applied again.
    service.upsert_and_commit(source, _item(title="Ciclabile Crema-Offanengo: si parte"))  # type: ignore[arg-type]
    assert names() == ["Offanengo", "Pandino"]
    result = runner.invoke(args=["articles", "refresh"])
    assert result.exit_code == 0, result.output
    assert names() == ["Offanengo", "Pandino"]
    assert service.municipality_edits(article.id) == {crema: False, pandino: True}
    # Putting Crema back is a correction too.
    service.set_municipality_by_editor(article.id, crema, True, actor=editor)
    service.upsert_and_commit(source, _item(title="Ciclabile: si parte"))  # type: ignore[arg-type]
    assert names() == ["Crema", "Offanengo", "Pandino"]


def test_localities_and_short_forms_are_stored_as_their_comune(source: object) -> None:
    article, _ = service.upsert_and_commit(
        source,  # type: ignore[arg-type]
        _item(
            title="Festa a Ombriano e Farinate",
            body_html="<p>Anche Spino partecipa; la crema pasticcera è offerta.</p>",
        ),
    )
    assert sorted(m.municipality.name for m in article.municipality_links) == [
        "Capralba",
        "Crema",
        "Spino d'Adda",
    ]
