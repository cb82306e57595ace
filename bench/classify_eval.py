"""Evaluate the topic classifier on the labelled corpus in tests/data/classify_corpus.json.

The corpus holds the area's real articles (labelled by its editors) and Italian news texts written
for this purpose and labelled by hand. Three rows: the keyword model alone (keywords and the
area's gazetteer), and keywords + the editor-trained model under k-fold cross-validation (each
article classified by a model that never saw it), with k=5 and leave-one-out.

Reports per-topic precision and recall, exact match, and "covered": every labelled topic found
with at most one extra. Usage: .venv/bin/python bench/classify_eval.py [-v] [corpus.json]
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tomllib  # noqa: E402

from newsletter.articles.classify import DATA_FILE, Result, classify, parse_model  # noqa: E402
from newsletter.articles.learned import (  # noqa: E402
    Labelled,
    combine,
    probabilities,
    train,
)

DEFAULT_CORPUS = ROOT / "tests" / "data" / "classify_corpus.json"
TOPICS = ("welfare", "mobility", "energy", "governance")


def report(
    name: str, items: list[dict[str, Any]], predict: Callable[[int], Result], verbose: bool
) -> None:
    tp = dict.fromkeys(TOPICS, 0)
    fp = dict.fromkeys(TOPICS, 0)
    fn = dict.fromkeys(TOPICS, 0)
    exact = covered = 0
    for index, item in enumerate(items):
        expected = set(item["topics"])
        got = set(predict(index).topics)
        for topic in TOPICS:
            tp[topic] += topic in got and topic in expected
            fp[topic] += topic in got and topic not in expected
            fn[topic] += topic not in got and topic in expected
        exact += got == expected
        ok = expected <= got and len(got - expected) <= 1
        covered += ok
        if verbose and got != expected:
            mark = "extra" if ok else "MISS "
            print(f"    {mark} {item['id']} expected={sorted(expected)} got={sorted(got)}")
    n = len(items)
    cells = []
    for topic in TOPICS:
        predicted, actual = tp[topic] + fp[topic], tp[topic] + fn[topic]
        p = tp[topic] / predicted if predicted else float("nan")
        r = tp[topic] / actual if actual else float("nan")
        cells.append(f"{topic[:4]} P={p:.2f} R={r:.2f}")
    print(f"{name:<34} exact={exact / n:.2f} covered={covered / n:.2f}  " + "  ".join(cells))


def folds(n: int, k: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(20261130).shuffle(order)
    return [order[i::k] for i in range(k)]


def learned_alone(items: Sequence[dict[str, Any]], k: int) -> Callable[[int], Result]:
    """The editor-trained model without the keyword prior: topics with probability >= 0.5."""
    labelled = [Labelled(i["title"], i["body"], frozenset(i["topics"])) for i in items]
    results: dict[int, Result] = {}
    for held_out in folds(len(items), k):
        keep = set(held_out)
        model = train([x for j, x in enumerate(labelled) if j not in keep], TOPICS)
        for j in held_out:
            probs = probabilities(model, items[j]["title"], items[j]["body"])
            chosen = tuple(t for t, p in probs.items() if p >= 0.5) or (
                max(probs, key=lambda topic: probs[topic]),
            )
            results[j] = Result(chosen, probs, False)
    return results.__getitem__


def cross_validated(items: Sequence[dict[str, Any]], k: int) -> Callable[[int], Result]:
    labelled = [Labelled(i["title"], i["body"], frozenset(i["topics"])) for i in items]
    results: dict[int, Result] = {}
    for held_out in folds(len(items), k):
        keep = set(held_out)
        model = train([x for j, x in enumerate(labelled) if j not in keep], TOPICS)
        for j in held_out:
            results[j] = combine(items[j]["title"], items[j]["body"], model)
    return results.__getitem__


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    paths = [a for a in argv if not a.startswith("-")]
    path = Path(paths[0]) if paths else DEFAULT_CORPUS
    items = json.loads(path.read_text(encoding="utf-8"))["items"]
    multi = sum(len(i["topics"]) > 1 for i in items)
    print(f"{len(items)} labelled articles ({multi} with two or more topics) from {path.name}")
    with DATA_FILE.open("rb") as handle:
        keywords_only = parse_model(tomllib.load(handle))
    report(
        "keywords alone (no gazetteer)",
        items,
        lambda j: classify(items[j]["title"], items[j]["body"], keywords_only),
        verbose,
    )
    report("learned alone, 5-fold CV", items, learned_alone(items, 5), verbose)
    report(
        "keywords + gazetteer",
        items,
        lambda j: classify(items[j]["title"], items[j]["body"]),
        verbose,
    )
    report("keywords + learned, 5-fold CV", items, cross_validated(items, 5), verbose)
    if "--loo" in argv:
        report(
            "keywords + learned, leave-one-out", items, cross_validated(items, len(items)), verbose
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
