"""How people write the comuni's names: folding for comparison, and URL slugs."""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "′": "'"})
_DASHES = str.maketrans({"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-"})


def fold(text: str) -> str:
    """Lower case, no accents, plain apostrophes and hyphens; one character per character.

    Keeping the length lets a match in the folded text point back into the original.
    """
    text = text.translate(_APOSTROPHES).translate(_DASHES).casefold()
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)
        kept = "".join(c for c in base if not unicodedata.combining(c))
        out.append(kept or ch)
    return "".join(out)


def name_key(name: str) -> str:
    """What two spellings of one name share: "SPINO D’ADDA", "spino d'adda", "Spino d' Adda"."""
    return re.sub(r"[\s'\-]+", " ", fold(name)).strip()


def slugify(name: str) -> str:
    """Stable lower-case ASCII with hyphens: ``Spino d'Adda`` -> ``spino-d-adda``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
