"""Automatic topics for Italian articles that arrive without any: a transparent keyword model.

Words are reduced to lemmas with simplemma, accents and case ignored; each topic has weighted
words and phrases in ``data/topics.toml``, and the area's institutions and programmes (the
Comunità Sociale Cremasca, Trenord, the renewable-energy communities, ...) weigh for their topics
through ``data/gazetteer.toml``; editors can read and change both. The title counts more than the
text; every topic close enough to the best one is assigned, and a topic further behind still is
when several different clues point to it (an interview that spans several topics); never zero
topics. ``learned.py`` adds what the editors' corrections teach on top of this prior.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).parent / "data" / "topics.toml"
GAZETTEER_FILE = Path(__file__).parent / "data" / "gazetteer.toml"
_WORD = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*", re.UNICODE)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})


def fold(text: str) -> str:
    """Lower case without accents: what matching compares."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=50_000)
def _lemma(word: str) -> str:
    # Imported on first use: its rule tables cost ~0.3 s of start-up for every command.
    import simplemma

    return fold(simplemma.lemmatize(word, lang="it"))


def lemmas(text: str) -> list[str]:
    """The text's words as folded lemmas; "dell'Area" gives "area" (elisions split off)."""
    words = _WORD.findall(text.translate(_APOSTROPHES).replace("'", " ").lower())
    return [_lemma(w) for w in words]


@dataclass(frozen=True)
class Model:
    terms: dict[str, dict[tuple[str, ...], float]]  # topic -> lemma sequence -> weight
    title_weight: float = 3.0
    relative_threshold: float = 0.5
    min_score: float = 2.0
    fallback: str = "governance"
    longest: int = field(default=1)
    # A topic below relative_threshold is still assigned when it reaches this share of the best
    # score with at least ``min_clues`` different words or names pointing to it.
    secondary_threshold: float = 0.2
    min_clues: int = 3
    labels: dict[tuple[str, ...], str] = field(default_factory=dict)  # term -> how editors wrote it


@dataclass(frozen=True)
class Result:
    topics: tuple[str, ...]  # the assigned topics, best first
    scores: dict[str, float]  # every topic's score, for editors to judge
    fallback: bool  # no topic was close enough: the fallback topic was assigned
    clues: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    """Per topic, the words and names that weighed most, heaviest first (for editors)."""
    learned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per topic, the article's words that the editor-trained model weighed most."""


def parse_model(data: dict[str, Any], gazetteer: dict[str, Any] | None = None) -> Model:
    """Keywords (``topics``) and, optionally, the gazetteer's bodies (``body``: name, aliases,
    topics with weights) as one table; a term listed twice keeps its highest weight."""
    settings = data.get("settings", {})
    terms: dict[str, dict[tuple[str, ...], float]] = {}
    labels: dict[tuple[str, ...], str] = {}

    def add(topic: str, phrase: str, weight: float) -> None:
        key = tuple(lemmas(phrase))
        if key:
            table = terms.setdefault(topic, {})
            table[key] = max(table.get(key, 0.0), float(weight))
            labels.setdefault(key, phrase)

    for topic, entries in data.get("topics", {}).items():
        terms.setdefault(topic, {})
        for phrase, weight in entries.items():
            add(topic, phrase, weight)
    for body in (gazetteer or {}).get("body", []):
        for name in [body["name"], *body.get("aliases", [])]:
            for topic, weight in body.get("topics", {}).items():
                add(topic, name, weight)
    longest = max((len(k) for table in terms.values() for k in table), default=1)
    return Model(
        terms=terms,
        title_weight=float(settings.get("title_weight", 3.0)),
        relative_threshold=float(settings.get("relative_threshold", 0.5)),
        min_score=float(settings.get("min_score", 2.0)),
        fallback=str(settings.get("fallback", "governance")),
        longest=longest,
        secondary_threshold=float(settings.get("secondary_threshold", 0.2)),
        min_clues=int(settings.get("min_clues", 3)),
        labels=labels,
    )


@cache
def default_model() -> Model:
    with DATA_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    with GAZETTEER_FILE.open("rb") as handle:
        gazetteer = tomllib.load(handle)
    return parse_model(data, gazetteer)


def _ngram_counts(words: list[str], longest: int) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for size in range(1, longest + 1):
        for start in range(len(words) - size + 1):
            counts[tuple(words[start : start + size])] += 1
    return counts


def _contributions(title: str, text: str, model: Model) -> dict[str, dict[tuple[str, ...], float]]:
    """Per topic, what each matched term added to its score."""
    in_title = _ngram_counts(lemmas(title), model.longest)
    in_text = _ngram_counts(lemmas(text), model.longest)
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for topic, table in model.terms.items():
        parts = found.setdefault(topic, {})
        for key, weight in table.items():
            hits = model.title_weight * in_title.get(key, 0) + math.sqrt(in_text.get(key, 0))
            if hits:
                parts[key] = weight * hits
    return found


def score(title: str, text: str, model: Model | None = None) -> dict[str, float]:
    model = model or default_model()
    return {
        topic: round(sum(parts.values()), 3)
        for topic, parts in _contributions(title, text, model).items()
    }


def classify(title: str, text: str, model: Model | None = None) -> Result:
    model = model or default_model()
    found = _contributions(title, text, model)
    scores = {topic: round(sum(parts.values()), 3) for topic, parts in found.items()}
    clues = {
        topic: tuple(
            (model.labels.get(key, " ".join(key)), round(value, 2))
            for key, value in sorted(parts.items(), key=lambda kv: -kv[1])[:6]
        )
        for topic, parts in found.items()
        if parts
    }
    best = max(scores.values(), default=0.0)
    if best < model.min_score:
        return Result((model.fallback,), scores, True, clues)

    def chosen(topic: str) -> bool:
        value = scores[topic]
        if value < model.min_score:
            return False
        if value >= best * model.relative_threshold:
            return True
        return value >= best * model.secondary_threshold and len(found[topic]) >= model.min_clues

    picked = sorted((t for t in scores if chosen(t)), key=lambda t: -scores[t])
    return Result(tuple(picked), scores, False, clues)
