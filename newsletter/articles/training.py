"""The topic model in use: keywords and gazetteer, plus what the editors' corrections taught.

The learned part lives in one JSON file in the instance folder (``TOPIC_MODEL_FILE`` overrides
the path). The service starts and classifies without it; ``retrain`` (the ``articles retrain``
command and the nightly job call the same function) writes a new one atomically and every
process picks it up at its next classification, by the file's modification time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from newsletter.articles import learned
from newsletter.articles.classify import Result
from newsletter.articles.models import Article, ArticleTopic
from newsletter.extensions import db
from newsletter.reference.models import Topic

log = logging.getLogger(__name__)
MODEL_FILENAME = "topic-model.json"

_lock = threading.Lock()
_cache: dict[str, tuple[float, learned.LearnedModel | None]] = {}


@dataclass(frozen=True)
class TrainingSummary:
    labels: int  # editor-labelled articles used
    topics: tuple[str, ...]  # topics the learned model now speaks for
    share: float  # its weight against the keyword prior
    path: Path

    def line(self) -> str:
        if not self.topics:
            return (
                f"{self.labels} editor-labelled articles: too few to learn from yet; "
                "the keywords classify alone"
            )
        return (
            f"trained on {self.labels} editor-labelled articles; learned topics: "
            f"{', '.join(self.topics)}; weight against the keywords {self.share:.2f}; "
            f"saved to {self.path}"
        )


def model_path() -> Path:
    configured = current_app.config.get("TOPIC_MODEL_FILE")
    return Path(configured) if configured else Path(current_app.instance_path) / MODEL_FILENAME


def current_model() -> learned.LearnedModel | None:
    """The learned model on disk, reloaded when the file changes; None when there is none."""
    path = model_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    key = str(path)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            model = learned.load(path)
        except (ValueError, KeyError, TypeError) as error:
            log.warning(
                "topic model %s is unreadable (%s): the keywords classify alone", path, error
            )
            model = None
        _cache[key] = (mtime, model)
        return model


def classify_text(title: str, text: str) -> Result:
    """Topics for an article that arrives without any."""
    return learned.combine(title, text, current_model())


def suggest(article: Article) -> Result:
    """What the classifier would choose for ``article`` now, with the words that weighed most."""
    return classify_text(article.title, f"{article.summary}\n{article.body_text}")


def labelled_articles() -> list[learned.Labelled]:
    """Every article whose topics an editor set: the training labels."""
    rows = db.session.scalars(
        sa.select(Article)
        .where(Article.topics_edited_at.is_not(None))
        .options(selectinload(Article.topic_links).joinedload(ArticleTopic.topic))
        .order_by(Article.id)
    )
    return [
        learned.Labelled(a.title, f"{a.summary}\n{a.body_text}", frozenset(a.topic_slugs))
        for a in rows
        if a.topic_links
    ]


def retrain() -> TrainingSummary:
    """Train on the editors' labels and replace the model file (the command and the job)."""
    items = labelled_articles()
    topics = db.session.scalars(sa.select(Topic.slug).order_by(Topic.position)).all()
    model = learned.train(items, topics)
    path = model_path()
    learned.save(model, path)
    summary = TrainingSummary(len(items), tuple(model.weights), model.share, path)
    log.info("topic model retrained: %s", summary.line())
    return summary
