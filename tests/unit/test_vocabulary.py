"""Each word of the service's vocabulary is spelled out once, in newsletter/vocabulary.py."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.vocabulary import AudienceKind, Frequency, Locale

PACKAGE = Path(__file__).resolve().parents[2] / "newsletter"
# A second list of the languages or frequencies, in any order or quoting.
REPEATED = re.compile(
    r"""[\(\[\{]\s*["'](it|en)["']\s*,\s*["'](it|en)["']"""
    r"""|["'](immediate|daily|weekly)["']\s*,\s*["'](immediate|daily|weekly)["']"""
)
# Generated from the schemas by the apischema work (issue 11 item 6); until then hand-written.
NOT_YET = {"api/openapi.py"}


def test_the_vocabularies() -> None:
    assert Locale.values() == ("it", "en")
    assert Frequency.values() == ("immediate", "daily", "weekly")
    assert AudienceKind.values() == ("citizen", "immediate", "mayor", "official", "edition")
    assert Locale.knows("en")
    assert not Locale.knows("de")
    assert not Frequency.knows(None)
    assert Frequency("daily") is Frequency.DAILY


def test_no_module_lists_them_again() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "vocabulary.py" and str(path.relative_to(PACKAGE)) not in NOT_YET
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if REPEATED.search(line)
    ]
    assert offenders == []
