"""A fresh clone has no ``../shared`` beside it: no test may reach outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# A path that climbs out of the checkout or names the sibling ``shared`` folder.
OUTSIDE = re.compile(r"""["']\.\.["']|["']shared["']|\.\./shared""")


def test_no_test_reads_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_article_fixtures_are_in_the_repository() -> None:
    assert (TESTS / "data" / "articles.json").is_file()
