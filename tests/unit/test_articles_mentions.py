from __future__ import annotations

import csv
from pathlib import Path

import pytest

from newsletter.articles.mentions import (
    GAZETTEER_FILE,
    build_matcher,
    default_gazetteer,
    parse_gazetteer,
)
from newsletter.reference.names import name_key

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
        ("spino e biancospino", set()),
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


# --- the gazetteer's rules, on the real data file and the real 48 comuni ----------------------

BUNDLED = Path(__file__).resolve().parents[2] / "newsletter/reference/data/municipalities.csv"
ALL = [
    (n, row["name"])
    for n, row in enumerate(csv.DictReader(BUNDLED.open(encoding="utf-8")), start=1)
]
ID = {name: n for n, name in ALL}


def area(text: str) -> set[str]:
    found = build_matcher(ALL, default_gazetteer()).find(text)
    return {name for n, name in ALL if n in found}


def test_every_comune_in_the_data_file_is_one_of_the_48() -> None:
    keys = {name_key(name) for _, name in ALL}
    gazetteer = default_gazetteer()
    assert gazetteer.comuni(), "the data file names no comune"
    assert {c for c in gazetteer.comuni() if name_key(c) not in keys} == set()
    assert GAZETTEER_FILE.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # rule 1: official names, whole words; Crema is not its adjectives nor Cremona
        ("Nuova rotonda a Offanengo", {"Offanengo"}),
        ("Il Cremasco e la pianura cremasca", set()),
        ("La provincia di Cremona approva il bilancio", set()),
        ("Offanenghese di nascita", set()),
        # rule 2: parts of a hyphenated name
        ("La festa di Vidolasco", {"Casale Cremasco-Vidolasco"}),
        ("Vidolaschese", set()),
        # rule 3: localities, frazioni, quarters
        ("Lavori in via Lodi a Ombriano", {"Crema"}),
        ("Il santuario di Santa Maria della Croce", {"Crema"}),
        ("Nuova scuola ai Sabbioni di Crema", {"Crema"}),
        ("La sagra di Farinate", {"Capralba"}),
        ("A Passarera la piazza è nuova", {"Capergnanica"}),
        ("Zappello e Bolzone senza acqua", {"Ripalta Cremasca"}),
        ("Il borgo di Ripalta Vecchia", {"Madignano"}),
        ("A Rubbiano e Credera il mercato", {"Credera Rubbiano"}),
        ("Processione alla Madonna dei Prati", {"Moscazzano"}),
        ("Gallignano in festa", {"Soncino"}),
        ("Ombrianese", set()),
        ("Farinatesi", set()),
        # rule 4: short forms
        ("Il sindaco di Spino ha firmato", {"Spino d'Adda"}),
        ("A Casale Cremasco la biblioteca", {"Casale Cremasco-Vidolasco"}),
        ("Cumignano investe nel fotovoltaico", {"Cumignano sul Naviglio"}),
        ("Torlino rinnova la palestra", {"Torlino Vimercati"}),
        ("Casale Monferrato e il vino", set()),
        # rule 5: names that are ordinary words need a capital letter
        ("una crema per le mani", set()),
        ("CREMA, chiude il ponte", {"Crema"}),
        ("lo spino della rosa", set()),
        ("il postino suona sempre due volte", set()),
        ("A Postino di Dovera la nuova farmacia", {"Dovera"}),
        # rule 6: ambiguous forms: capital, no qualifier, an article about the area
        (
            "A Bagnolo il consiglio comunale si riunisce, come a Crema",
            {"Bagnolo Cremasco", "Crema"},
        ),
        ("Bagnolo, il sindaco parla del territorio cremasco", {"Bagnolo Cremasco"}),
        ("A Bagnolo il consiglio comunale si riunisce", set()),
        ("Bagnolo Mella e Crema", {"Crema"}),
        ("Bagnolo in Piano, nel cremasco se ne parla", set()),
        ("Trescore Balneario e le terme; il cremasco guarda", set()),
        ("Trescore approva il bilancio, come Offanengo", {"Trescore Cremasco", "Offanengo"}),
        ("La chiesa di Castelnuovo a Crema", {"Crema"}),
        ("Castelnuovo Bocca d'Adda e Crema", {"Crema"}),
        ("Castelnuovo del Garda", set()),
        ("San Bernardino da Siena predicò a Crema", {"Crema"}),
        ("Il quartiere San Bernardino, Area Omogenea Cremasca", {"Crema"}),
        ("Camisano e Castel Gabbiano, due comuni cremaschi", {"Camisano", "Castel Gabbiano"}),
        ("Camisano Vicentino, provincia di Vicenza, e Crema", {"Crema"}),
        ("camisano", set()),
        # rule 7: excluded phrases
        ("La crema pasticcera di Offanengo", {"Offanengo"}),
        ("Crema catalana per tutti", set()),
        # rule 8: the longest name wins
        ("Ripalta Cremasca e Ripalta Arpina", {"Ripalta Cremasca", "Ripalta Arpina"}),
        ("Monte Cremasco", {"Monte Cremasco"}),
        ("Santa Maria della Croce", {"Crema"}),
    ],
)
def test_area_rules(text: str, expected: set[str]) -> None:
    assert area(text) == expected


def test_area_context_comes_from_any_of_the_texts() -> None:
    matcher = build_matcher(ALL, default_gazetteer())
    assert matcher.find("Bagnolo: la nuova scuola", "Il progetto coinvolge Crema") == {
        ID["Bagnolo Cremasco"],
        ID["Crema"],
    }
    assert matcher.find("Bagnolo: la nuova scuola", "Il progetto è regionale") == set()


def test_an_edited_data_file_changes_the_rules() -> None:
    gazetteer = parse_gazetteer(
        '[[place]]\ncomune = "Offanengo"\nlocalities = ["Borgo Nuovo"]\n'
        '[proper_case]\nnames = ["Offanengo"]\n'
    )
    matcher = build_matcher(ALL, gazetteer)
    assert matcher.find("Festa a Borgo Nuovo") == {ID["Offanengo"]}
    assert matcher.find("offanengo minuscolo") == set()
    assert build_matcher(ALL).find("Festa a Borgo Nuovo") == set()
