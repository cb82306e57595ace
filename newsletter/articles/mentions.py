"""Which of the area's municipalities an article names.

Matching ignores case and accents, treats typographic apostrophes as plain ones and a hyphen as
a hyphen or a space, and takes whole words only: "Crema" is not found in "Cremasco". The parts of
a merged municipality's hyphenated name count too ("Casale Cremasco" names
"Casale Cremasco-Vidolasco"). Overlapping names go to the longest one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "′": "'"})
_DASHES = str.maketrans({"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-"})


def fold(text: str) -> str:
    """Lower case, no accents, plain apostrophes and hyphens; one character per character."""
    text = text.translate(_APOSTROPHES).translate(_DASHES).casefold()
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)
        kept = "".join(c for c in base if not unicodedata.combining(c))
        out.append(kept or ch)
    return "".join(out)


def _pattern(name: str) -> str:
    words = re.split(r"(\s+|'|-)", fold(name).strip())
    parts: list[str] = []
    for word in words:
        if not word:
            continue
        if word.isspace():
            parts.append(r"\s+")
        elif word == "'":
            parts.append(r"\s*'\s*")
        elif word == "-":
            parts.append(r"(?:\s*-\s*|\s+)")
        else:
            parts.append(re.escape(word))
    return "".join(parts)


def aliases(name: str) -> list[str]:
    found = [name]
    if "-" in name:
        found.extend(part.strip() for part in name.split("-") if len(part.strip()) > 3)
    return found


@dataclass(frozen=True)
class Matcher:
    regex: re.Pattern[str] | None
    by_group: dict[str, int]  # group name -> municipality id

    def find(self, *texts: str) -> set[int]:
        if self.regex is None:
            return set()
        found: set[int] = set()
        for text in texts:
            for match in self.regex.finditer(fold(text)):
                group = match.lastgroup
                if group is not None:
                    found.add(self.by_group[group])
        return found


def build_matcher(municipalities: Iterable[tuple[int, str]]) -> Matcher:
    """``municipalities`` are (id, name) pairs; longer names win where they overlap."""
    entries: list[tuple[str, int]] = []
    for municipality_id, name in municipalities:
        entries.extend((alias, municipality_id) for alias in aliases(name))
    if not entries:
        return Matcher(None, {})
    entries.sort(key=lambda entry: -len(fold(entry[0])))
    by_group: dict[str, int] = {}
    branches = []
    for index, (alias, municipality_id) in enumerate(entries):
        group = f"m{index}"
        by_group[group] = municipality_id
        branches.append(f"(?P<{group}>{_pattern(alias)})")
    regex = re.compile(r"(?<!\w)(?:" + "|".join(branches) + r")(?![\w])", re.UNICODE)
    return Matcher(regex, by_group)
