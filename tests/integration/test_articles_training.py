"""Editors' topic corrections train the classifier: the command, the job, the admin page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.articles import service, training
from newsletter.articles.models import SourceKind, TopicAssignment
from newsletter.audit import Actor
from newsletter.extensions import db
from newsletter.hooks import registry
from tests.fixtures.admin import FAST_HASHING

PLACES = ["Crema", "Offanengo", "Pandino", "Vailate", "Soncino", "Dovera", "Chieve", "Izano"]
OTHERS = [
    (
        "mobility",
        "Nuova pista ciclabile a {}",
        "La pista ciclabile collega il paese alla stazione.",
    ),
    ("welfare", "Centro diurno per anziani a {}", "Il servizio sociale accoglie gli anziani."),
    ("governance", "{}: approvato il bilancio", "Il consiglio comunale ha votato il bilancio."),
]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _article(n: int, title: str, text: str, topics: tuple[str, ...] = ()) -> int:
    source = service.get_or_create_source("cms-training", SourceKind.PUSH)
    item = service.parse_article(
        {
            "external_id": f"t-{n}",
            "title": title,
            "body": text,
            "published_at": "2026-11-20T09:00:00+01:00",
            "topics": list(topics),
        }
    )
    article, _ = service.upsert_and_commit(source, item)
    return int(article.id)


def _label_by_editors() -> None:
    """The area's editors keep filing "Ecosportello" news under energy, and others elsewhere."""
    n = 0
    for place in PLACES * 2:
        n += 1
        article_id = _article(n, f"Ecosportello di {place}", f"Orari dell'ecosportello di {place}.")
        service.set_topics_by_editor(article_id, ["energy"], actor=Actor("tests"))
    for topic, title, text in OTHERS:
        for place in PLACES[:4]:
            n += 1
            service.set_topics_by_editor(
                _article(n, title.format(place), text), [topic], actor=Actor("tests")
            )


def test_retrain_learns_the_editors_labels_and_new_articles_follow(
    app: Flask, runner: FlaskCliRunner
) -> None:
    before = _article(900, "Ecosportello, nuove date", "L'ecosportello apre anche il sabato.")
    assert {link.assigned_by for link in service.get_article(before).topic_links} == {
        TopicAssignment.AUTO
    }
    assert service.get_article(before).topic_slugs == ["governance"]  # the keywords' fallback

    _label_by_editors()
    result = runner.invoke(args=["articles", "retrain"])
    assert result.exit_code == 0, result.output
    assert "trained on 28 editor-labelled articles" in result.output
    assert "energy" in result.output
    model_file = Path(app.instance_path) / "topic-model.json"
    assert model_file.is_file()

    after = _article(901, "Ecosportello, orari di Natale", "L'ecosportello chiude il 24.")
    assert service.get_article(after).topic_slugs == ["energy"]
    suggestion = training.suggest(service.get_article(after))
    assert "ecosportello" in suggestion.learned["energy"]


def test_without_a_model_file_the_keywords_classify_alone(app: Flask) -> None:
    assert training.current_model() is None
    article_id = _article(1, "Nuova pista ciclabile a Ricengo", "La pista arriva in stazione.")
    assert service.get_article(article_id).topic_slugs == ["mobility"]


def test_too_few_labels_say_so_and_change_nothing(app: Flask, runner: FlaskCliRunner) -> None:
    service.set_topics_by_editor(
        _article(1, "Pista ciclabile", "Una pista."), ["welfare"], actor=Actor("tests")
    )
    result = runner.invoke(args=["articles", "retrain"])
    assert result.exit_code == 0
    assert "too few to learn from yet" in result.output
    article_id = _article(2, "Nuova pista ciclabile a Ricengo", "La pista arriva in stazione.")
    assert service.get_article(article_id).topic_slugs == ["mobility"]


def test_the_nightly_job_is_registered_and_retrains(app: Flask) -> None:
    jobs = {job.name: job for job in registry(app).jobs}
    job = jobs["retrain-topic-model"]
    assert job.trigger(app) == {"trigger": "cron", "hour": 3, "minute": 40}
    _label_by_editors()
    job.func()
    model = training.current_model()
    assert model is not None
    assert model.labels == 28
    assert set(model.weights) == {"energy", "mobility", "welfare", "governance"}


def test_the_admin_article_page_shows_the_suggestion_and_its_words(
    app: Flask, editor_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    _label_by_editors()
    assert runner.invoke(args=["articles", "retrain"]).exit_code == 0
    article_id = _article(
        902, "Ecosportello e comunità energetica", "L'ecosportello spiega la comunità energetica."
    )
    db.session.commit()
    page = editor_client.get(f"/admin/articles/{article_id}?lang=en").get_data(as_text=True)
    assert "The classifier&#39;s suggestion" in page or "The classifier's suggestion" in page
    suggestion = page.split('class="suggestion"', 1)[1].split("</ul>", 1)[0]
    assert "comunità energetica" in suggestion  # the keyword clue, as the gazetteer writes it
    assert "ecosportello" in suggestion  # the word the editors taught
