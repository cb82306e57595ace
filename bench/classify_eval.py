"""Evaluate the topic classifier on the editors' labelled articles (../shared/fixtures).

Prints per-topic precision and recall, exact-match accuracy, and each article's outcome.
Usage: .venv/bin/python bench/classify_eval.py [path/to/articles.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.articles.classify import classify  # noqa: E402

DEFAULT_FIXTURES = ROOT / ".." / "shared" / "fixtures" / "articles.json"
TOPICS = ("welfare", "mobility", "energy", "governance")


def main(path: Path) -> int:
    items = json.loads(path.read_text(encoding="utf-8"))
    tp = dict.fromkeys(TOPICS, 0)
    fp = dict.fromkeys(TOPICS, 0)
    fn = dict.fromkeys(TOPICS, 0)
    exact = covered = within_one = 0
    print(f"{len(items)} articles from {path.resolve()}")
    for item in items:
        expected = set(item["topics"])
        result = classify(item["title"], item.get("body", ""))
        got = set(result.topics)
        for topic in TOPICS:
            tp[topic] += topic in got and topic in expected
            fp[topic] += topic in got and topic not in expected
            fn[topic] += topic not in got and topic in expected
        exact += got == expected
        covered += expected <= got
        within_one += expected <= got and len(got - expected) <= 1
        mark = "ok   " if got == expected else ("extra" if expected <= got else "MISS ")
        scores = " ".join(f"{t}={result.scores.get(t, 0):.1f}" for t in TOPICS)
        print(
            f"  {mark} {item['id']} expected={','.join(sorted(expected))} "
            f"got={','.join(sorted(got))}  [{scores}]"
        )
    print(f"{'topic':<12}{'precision':>10}{'recall':>8}{'support':>9}")
    for topic in TOPICS:
        predicted = tp[topic] + fp[topic]
        actual = tp[topic] + fn[topic]
        precision = f"{tp[topic] / predicted:.2f}" if predicted else "n/a"
        recall = f"{tp[topic] / actual:.2f}" if actual else "n/a"
        print(f"{topic:<12}{precision:>10}{recall:>8}{actual:>9}")
    n = len(items)
    print(f"exact-match accuracy: {exact}/{n} = {exact / n:.2f}")
    print(f"all labelled topics found: {covered}/{n}; with at most one extra: {within_one}/{n}")
    return 0 if within_one == n else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FIXTURES))
