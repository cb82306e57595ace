from __future__ import annotations

import pytest

from newsletter.articles.mentions import build_matcher

TOWNS = [
    (1, "Crema"),
    (2, "Spino d'Adda"),
    (3, "Casale Cremasco-Vidolasco"),
    (4, "Monte Cremasco"),
    (5, "Credera Rubbiano"),
    (6, "Castelleone"),
    (7, "Ripalta Cremasca"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Incontro a Crema in sala consiliare", {1}),
        ("A CREMA, ieri sera", {1}),
        ("Il territorio cremasco e la comunità Cremasca", set()),
        ("il Cremasco è unito", set()),
        ("Cremaschi e cremonesi", set()),
        ("Il sindaco di Spino d’Adda", {2}),
        ("spino d'adda e SPINO D’ ADDA", {2}),
        ("Spino", set()),
        ("A Casale Cremasco-Vidolasco e a Casale Cremasco", {3}),
        ("casale cremasco – vidolasco", {3}),
        ("Monte Cremasco ha un nuovo parco", {4}),
        ("a Ripalta Cremasca", {7}),
        ("Credera  Rubbiano", {5}),
        ("Castelléone e CASTELLEONE", {6}),
        ("crema2024 non è un nome", set()),
        ("Treno Crema-Milano", {1}),
    ],
)
def test_mentions(text: str, expected: set[int]) -> None:
    assert build_matcher(TOWNS).find(text) == expected


def test_several_texts_and_no_municipalities() -> None:
    matcher = build_matcher(TOWNS)
    assert matcher.find("Titolo su Crema", "Testo su Castelleone") == {1, 6}
    assert build_matcher([]).find("Crema") == set()
