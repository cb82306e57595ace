"""What the editors teach: a small linear model over lemmas, trained on their corrections.

When an editor changes an article's topics, that is a label. ``train`` fits one logistic
regression per topic (scikit-learn) over TF-IDF weights of the article's lemmas and lemma pairs,
and keeps the result as plain numbers (vocabulary, IDF, weights) in a JSON file: readable,
diffable, loaded without scikit-learn, and never unpickled.

``combine`` mixes it with the keyword model (``classify``), which stays the prior: the learned
part's say grows with the number of labels (``labels / (labels + PRIOR_STRENGTH)``) and a topic
with too few positive or negative examples keeps the keywords' verdict, so a handful of labels
cannot make the service worse than the keywords alone.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.articles.classify import Model, Result, classify, lemmas

FORMAT = 1
PRIOR_STRENGTH = 30.0  # labels at which the learned model and the keywords weigh the same
MIN_EXAMPLES = 3  # positive and negative examples a topic needs before the model speaks for it
TITLE_REPEAT = 2  # the title's words count twice, as in the keyword model
_STOP_WORDS = (
    "il lo la i gli le un uno una di a da in con su per tra fra e o ma che non si ci ne del della "
    "dello dei degli delle al alla allo ai agli alle dal dalla dai dalle nel nella nei nelle sul "
    "sulla sui sulle essere avere questo quello come anche piu sono cui suo loro ogni tutto molto "
    "stato fare"
)
_STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class Labelled:
    title: str
    text: str
    topics: frozenset[str]


@dataclass(frozen=True)
class LearnedModel:
    vocabulary: dict[str, int]
    idf: list[float]
    weights: dict[str, list[float]]  # topic -> one weight per vocabulary entry
    intercepts: dict[str, float]
    labels: int  # how many labelled articles it was trained on
    trained_at: str = ""
    examples: dict[str, int] = field(default_factory=dict)  # topic -> positive examples

    @property
    def share(self) -> float:
        """How much the learned model counts against the keyword prior (0..1)."""
        return self.labels / (self.labels + PRIOR_STRENGTH)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "trained_at": self.trained_at,
            "labels": self.labels,
            "examples": self.examples,
            "vocabulary": self.vocabulary,
            "idf": self.idf,
            "weights": self.weights,
            "intercepts": self.intercepts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LearnedModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown topic model format {data.get('format')!r}")
        return cls(
            vocabulary={str(k): int(v) for k, v in data["vocabulary"].items()},
            idf=[float(x) for x in data["idf"]],
            weights={str(t): [float(x) for x in w] for t, w in data["weights"].items()},
            intercepts={str(t): float(x) for t, x in data["intercepts"].items()},
            labels=int(data["labels"]),
            trained_at=str(data.get("trained_at", "")),
            examples={str(t): int(n) for t, n in data.get("examples", {}).items()},
        )


def features(title: str, text: str) -> list[str]:
    """Lemmas and adjacent lemma pairs, without the commonest function words."""
    words = [w for w in lemmas(title) for _ in range(TITLE_REPEAT)] + lemmas(text)
    kept = [w for w in words if w not in _STOP and len(w) > 1 and not w.isdigit()]
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(kept) if a != b]
    return kept + pairs


def _vector(model: LearnedModel, title: str, text: str) -> dict[int, float]:
    """Sublinear TF x IDF, L2-normalised: the same numbers scikit-learn computed when training."""
    counts = Counter(t for t in features(title, text) if t in model.vocabulary)
    vector = {
        model.vocabulary[t]: (1.0 + math.log(n)) * model.idf[model.vocabulary[t]]
        for t, n in counts.items()
    }
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {i: v / norm for i, v in vector.items()}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -500 else 0.0


def probabilities(model: LearnedModel, title: str, text: str) -> dict[str, float]:
    """Per topic the model trusts itself on, the probability that the topic applies."""
    vector = _vector(model, title, text)
    return {
        topic: _sigmoid(model.intercepts[topic] + sum(w[i] * v for i, v in vector.items()))
        for topic, w in model.weights.items()
    }


def top_words(model: LearnedModel, title: str, text: str, topic: str, n: int = 5) -> list[str]:
    """The article's words that pushed hardest towards ``topic``."""
    weights = model.weights.get(topic)
    if weights is None:
        return []
    names = {i: t for t, i in model.vocabulary.items()}
    vector = _vector(model, title, text)
    pushes = sorted(((weights[i] * v, names[i]) for i, v in vector.items()), reverse=True)
    return [name for push, name in pushes[:n] if push > 0]


def train(items: Sequence[Labelled], topics: Iterable[str]) -> LearnedModel:
    """Fit the per-topic models; topics with too few examples either way are left out."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    items = list(items)
    vectorizer = TfidfVectorizer(
        analyzer=lambda doc: doc, sublinear_tf=True, min_df=2 if len(items) >= 20 else 1
    )
    docs = [features(item.title, item.text) for item in items]
    if not items or not any(docs):
        return LearnedModel({}, [], {}, {}, labels=len(items), trained_at=_now())
    matrix = vectorizer.fit_transform(docs)
    weights: dict[str, list[float]] = {}
    intercepts: dict[str, float] = {}
    examples: dict[str, int] = {}
    for topic in sorted(topics):
        target = [topic in item.topics for item in items]
        positives = sum(target)
        examples[topic] = positives
        if positives < MIN_EXAMPLES or len(items) - positives < MIN_EXAMPLES:
            continue
        fitted = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000)
        fitted.fit(matrix, target)
        weights[topic] = [round(float(x), 6) for x in fitted.coef_[0]]
        intercepts[topic] = round(float(fitted.intercept_[0]), 6)
    vocabulary = {str(t): int(i) for t, i in vectorizer.vocabulary_.items()}
    idf = [round(float(x), 6) for x in vectorizer.idf_]
    return LearnedModel(
        vocabulary, idf, weights, intercepts, len(items), trained_at=_now(), examples=examples
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def combine(
    title: str, text: str, learned: LearnedModel | None, prior: Model | None = None
) -> Result:
    """The keyword result, corrected by the learned model in proportion to its labels.

    A topic the keywords assign votes 1, any other its score relative to the best (so the
    keywords' runner-up needs the learned model's support and a long shot needs a lot of it; when
    the keywords found nothing, every topic votes 0.5 and the learned probability decides);
    the learned vote is the topic's probability; the mix decides at 0.5. The best topic of the
    mix is always kept, so there is never zero topics.
    """
    base = classify(title, text, prior)
    if learned is None or not learned.weights:
        return base
    best = max(base.scores.values(), default=0.0)
    share = learned.share
    probs = probabilities(learned, title, text)
    mixed: dict[str, float] = {}
    for topic, value in base.scores.items():
        if base.fallback:
            vote = 0.5  # the keywords have no opinion: the learned model decides alone
        elif topic in base.topics:
            vote = 1.0
        else:
            vote = min(1.0, value / best) if best > 0 else 0.0
        mixed[topic] = (1 - share) * vote + share * probs[topic] if topic in probs else vote
    if base.fallback and max(mixed.values(), default=0.0) < 0.5:
        return base
    picked = sorted((t for t, m in mixed.items() if m >= 0.5), key=lambda t: -mixed[t])
    if not picked:
        picked = [max(mixed, key=lambda t: mixed[t])]
    words = {topic: tuple(top_words(learned, title, text, topic)) for topic in picked}
    return Result(tuple(picked), base.scores, False, base.clues, words)


def load(path: Path) -> LearnedModel | None:
    """The model in ``path``, or None when there is none yet (the keywords work alone)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return LearnedModel.from_json(json.load(handle))
    except FileNotFoundError:
        return None


def save(model: LearnedModel, path: Path) -> None:
    """Write atomically: a reader sees the old model or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".topic-model-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(model.to_json(), handle, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
