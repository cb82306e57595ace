"""Which of the area's comuni an article is about, in a way people would agree with.

Rules, each with positive and negative sentences in ``tests/unit/test_articles_mentions.py``:

1. A comune's official name, as a whole word, ignoring case and accents; typographic
   apostrophes are plain ones and a hyphen is a hyphen or a space. "Crema" is not found in
   "cremasco", "Cremasca" or "Cremona".
2. The parts of a hyphenated name ("Casale Cremasco", "Vidolasco" for
   "Casale Cremasco-Vidolasco").
3. Localities, frazioni and quarters from the editable gazetteer (``data/places.toml``):
   "Ombriano" is Crema, "Farinate" is Capralba, "Passarera" is Capergnanica.
4. Short forms people write ("Spino" for Spino d'Adda, "Cumignano").
5. Names that are also ordinary words count only with a capital letter ("crema" is cream).
6. Ambiguous forms ("Bagnolo", "Castelnuovo", "Trescore") count only with a capital letter,
   not followed by a qualifier naming another place ("Bagnolo Mella", "Castelnuovo Bocca
   d'Adda"), and only in an article that is about the area (it names a place of the area
   unambiguously, or "Crema", "cremasco", "Area Omogenea").
7. Excluded phrases ("crema pasticcera", "Camisano Vicentino") never count.
8. Where names overlap the longest wins ("Ripalta Cremasca" is not "Ripalta" + "Cremasca").

Pure: no Flask, no database. ``newsletter.articles.service`` builds the matcher from the
municipality table and this gazetteer, then applies the editors' corrections on top.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from newsletter.reference.names import fold, name_key

GAZETTEER_FILE = Path(__file__).parent / "data" / "places.toml"

NAME = "name"
PART = "part"
LOCALITY = "locality"
SHORT = "short"
AMBIGUOUS = "ambiguous"

# After an ambiguous form, a capitalised word or a preposition and one names another place.
_QUALIFIER = re.compile(
    r"(?:[ \t]+|[ \t]*-[ \t]*)(?:(?:di|del|della|dei|delle|de|in|sul|sull'|d')[ \t]*)?"
    r"[A-ZÀ-Ý]"
)
_AREA = re.compile(r"(?<!\w)(?:cremasc\w*|area\s+omogenea)(?!\w)")
_CREMA = re.compile(r"(?<!\w)(?:Crema|CREMA)(?!\w)")


@dataclass(frozen=True)
class Ambiguous:
    form: str
    comune: str
    not_before: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gazetteer:
    """The editable data file, parsed."""

    localities: dict[str, tuple[str, ...]] = field(default_factory=dict)  # comune -> names
    short: dict[str, tuple[str, ...]] = field(default_factory=dict)  # comune -> short forms
    ambiguous: tuple[Ambiguous, ...] = ()
    proper_case: frozenset[str] = frozenset()  # name_key of names needing a capital letter
    exclude: tuple[str, ...] = ()

    def comuni(self) -> set[str]:
        named = set(self.localities) | set(self.short) | {a.comune for a in self.ambiguous}
        return named


def parse_gazetteer(text: str) -> Gazetteer:
    data: dict[str, Any] = tomllib.loads(text)
    localities: dict[str, tuple[str, ...]] = {}
    short: dict[str, tuple[str, ...]] = {}
    for place in data.get("place", []):
        comune = str(place["comune"])
        localities[comune] = localities.get(comune, ()) + tuple(place.get("localities", ()))
        short[comune] = short.get(comune, ()) + tuple(place.get("short", ()))
    ambiguous = tuple(
        Ambiguous(str(a["form"]), str(a["comune"]), tuple(a.get("not_before", ())))
        for a in data.get("ambiguous", [])
    )
    proper = frozenset(name_key(n) for n in data.get("proper_case", {}).get("names", ()))
    exclude = tuple(str(p) for p in data.get("exclude", {}).get("phrases", ()))
    return Gazetteer(localities, short, ambiguous, proper, exclude)


@cache
def default_gazetteer() -> Gazetteer:
    return parse_gazetteer(GAZETTEER_FILE.read_text(encoding="utf-8"))


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
    """The official name and, for a merged comune, the parts of its hyphenated name."""
    found = [name]
    if "-" in name:
        found.extend(part.strip() for part in name.split("-") if len(part.strip()) > 3)
    return found


@dataclass(frozen=True)
class Entry:
    form: str
    municipality_id: int
    kind: str
    proper_case: bool = False
    not_before: tuple[str, ...] = ()


@dataclass(frozen=True)
class Matcher:
    regex: re.Pattern[str] | None
    entries: dict[str, Entry]  # group name -> entry
    exclude: re.Pattern[str] | None = None

    def find(self, *texts: str) -> set[int]:
        """The comuni the texts (title, summary, body) are about, by the module's rules."""
        if self.regex is None:
            return set()
        sure: set[int] = set()
        maybe: list[tuple[Entry, str, int]] = []
        area = False
        for original in texts:
            folded = fold(original)
            if len(folded) != len(original):  # a character that folds to two: no case checks
                original = folded
            if self.exclude is not None:
                folded = self.exclude.sub(lambda m: " " * len(m.group()), folded)
            area = area or bool(_AREA.search(folded)) or bool(_CREMA.search(original))
            for match in self.regex.finditer(folded):
                entry = self.entries[match.lastgroup or ""]
                start, end = match.span()
                if (entry.proper_case or entry.kind == AMBIGUOUS) and not original[start].isupper():
                    continue
                if entry.kind == AMBIGUOUS:
                    maybe.append((entry, original, end))
                else:
                    sure.add(entry.municipality_id)
        if sure:
            area = True
        for entry, original, end in maybe:
            after = original[end:]
            if not area or _QUALIFIER.match(after):
                continue
            if any(fold(after).lstrip().startswith(fold(p)) for p in entry.not_before):
                continue
            sure.add(entry.municipality_id)
        return sure


def build_matcher(
    municipalities: Iterable[tuple[int, str]], gazetteer: Gazetteer | None = None
) -> Matcher:
    """``municipalities`` are (id, name) pairs; longer forms win where they overlap."""
    gazetteer = gazetteer if gazetteer is not None else Gazetteer()
    ids = {name_key(name): municipality_id for municipality_id, name in municipalities}
    ambiguous_forms = {name_key(a.form) for a in gazetteer.ambiguous}
    entries: list[Entry] = []

    def add(form: str, municipality_id: int, kind: str, not_before: tuple[str, ...] = ()) -> None:
        key = name_key(form)
        if kind != AMBIGUOUS and key in ambiguous_forms:
            return  # an official name that is ambiguous ("Camisano") follows rule 6
        entries.append(Entry(form, municipality_id, kind, key in gazetteer.proper_case, not_before))

    for municipality_id, name in municipalities:
        for index, alias in enumerate(aliases(name)):
            add(alias, municipality_id, NAME if index == 0 else PART)
    for comune, names in gazetteer.localities.items():
        if name_key(comune) in ids:
            for locality in names:
                add(locality, ids[name_key(comune)], LOCALITY)
    for comune, names in gazetteer.short.items():
        if name_key(comune) in ids:
            for short in names:
                add(short, ids[name_key(comune)], SHORT)
    for item in gazetteer.ambiguous:
        if name_key(item.comune) in ids:
            add(item.form, ids[name_key(item.comune)], AMBIGUOUS, item.not_before)
    if not entries:
        return Matcher(None, {})
    entries.sort(key=lambda entry: -len(fold(entry.form)))
    by_group: dict[str, Entry] = {}
    branches = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        pattern = _pattern(entry.form)
        if pattern in seen:
            continue
        seen.add(pattern)
        group = f"m{index}"
        by_group[group] = entry
        branches.append(f"(?P<{group}>{pattern})")
    regex = re.compile(r"(?<!\w)(?:" + "|".join(branches) + r")(?!\w)", re.UNICODE)
    exclude = None
    if gazetteer.exclude:
        exclude = re.compile(
            r"(?<!\w)(?:" + "|".join(_pattern(p) for p in gazetteer.exclude) + r")(?!\w)"
        )
    return Matcher(regex, by_group, exclude)
