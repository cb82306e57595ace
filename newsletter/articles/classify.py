"""Automatic topics for Italian articles that arrive without any: a transparent keyword model.

Words are reduced to lemmas with simplemma, accents and case ignored; each topic has weighted
words and phrases in ``data/topics.toml`` (editors can read and change them). The title counts
more than the text; every topic close enough to the best one is assigned; never zero topics.
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

import simplemma

DATA_FILE = Path(__file__).parent / "data" / "topics.toml"
_WORD = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*", re.UNICODE)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})


def fold(text: str) -> str:
    """Lower case without accents: what matching compares."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=50_000)
def _lemma(word: str) -> str:
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


@dataclass(frozen=True)
class Result:
    topics: tuple[str, ...]  # the assigned topics, best first
    scores: dict[str, float]  # every topic's score, for editors to judge
    fallback: bool  # no topic was close enough: the fallback topic was assigned


def parse_model(data: dict[str, Any]) -> Model:
    settings = data.get("settings", {})
    terms: dict[str, dict[tuple[str, ...], float]] = {}
    for topic, entries in data.get("topics", {}).items():
        table: dict[tuple[str, ...], float] = {}
        for phrase, weight in entries.items():
            key = tuple(lemmas(phrase))
            if key:
                table[key] = max(table.get(key, 0.0), float(weight))
        terms[topic] = table
    longest = max((len(k) for table in terms.values() for k in table), default=1)
    return Model(
        terms=terms,
        title_weight=float(settings.get("title_weight", 3.0)),
        relative_threshold=float(settings.get("relative_threshold", 0.5)),
        min_score=float(settings.get("min_score", 2.0)),
        fallback=str(settings.get("fallback", "governance")),
        longest=longest,
    )


@cache
def default_model() -> Model:
    with DATA_FILE.open("rb") as handle:
        return parse_model(tomllib.load(handle))


def _ngram_counts(words: list[str], longest: int) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for size in range(1, longest + 1):
        for start in range(len(words) - size + 1):
            counts[tuple(words[start : start + size])] += 1
    return counts


def score(title: str, text: str, model: Model | None = None) -> dict[str, float]:
    model = model or default_model()
    in_title = _ngram_counts(lemmas(title), model.longest)
    in_text = _ngram_counts(lemmas(text), model.longest)
    scores: dict[str, float] = {}
    for topic, table in model.terms.items():
        total = 0.0
        for key, weight in table.items():
            hits = model.title_weight * in_title.get(key, 0) + math.sqrt(in_text.get(key, 0))
            total += weight * hits
        scores[topic] = round(total, 3)
    return scores


def classify(title: str, text: str, model: Model | None = None) -> Result:
    model = model or default_model()
    scores = score(title, text, model)
    best = max(scores.values(), default=0.0)
    if best < model.min_score:
        return Result((model.fallback,), scores, True)
    chosen = sorted(
        (
            t
            for t, s in scores.items()
            if s >= model.min_score and s >= best * model.relative_threshold
        ),
        key=lambda t: -scores[t],
    )
    return Result(tuple(chosen), scores, False)
