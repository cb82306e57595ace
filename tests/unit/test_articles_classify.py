"""The classifier on short Italian examples written for these tests."""

from __future__ import annotations

import pytest

from newsletter.articles.classify import classify, lemmas, parse_model


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        (
            "Aperte le iscrizioni al centro diurno per anziani",
            "Il servizio sociale comunale accoglie le persone anziane fragili e sostiene le "
            "famiglie che se ne prendono cura.",
            {"welfare"},
        ),
        (
            "Nuove corse dell'autobus per i pendolari",
            "Il trasporto pubblico aggiunge corse del mattino verso la stazione ferroviaria.",
            {"mobility"},
        ),
        (
            "Pannelli fotovoltaici sui tetti delle scuole",
            "Gli impianti produrranno energia rinnovabile e ridurranno le bollette del comune.",
            {"energy"},
        ),
        (
            "Approvato il regolamento dell'assemblea dei sindaci",
            "La giunta e l'assemblea hanno definito le regole della gestione associata.",
            {"governance"},
        ),
    ],
)
def test_one_clear_topic(title: str, text: str, expected: set[str]) -> None:
    assert set(classify(title, text).topics) == expected


def test_two_topics_when_both_are_strong() -> None:
    result = classify(
        "Navetta elettrica e bici per i pendolari, alimentate dal fotovoltaico",
        "Il nuovo servizio di trasporto usa energia rinnovabile prodotta dai pannelli solari "
        "della stazione.",
    )
    assert set(result.topics) == {"energy", "mobility"}
    assert result.fallback is False


def test_title_counts_more_than_text() -> None:
    text = "Si parla anche di una pista ciclabile."
    with_title = classify("Bollette dell'energia più care", text)
    assert with_title.topics[0] == "energy"
    assert with_title.scores["energy"] > with_title.scores["mobility"]


def test_never_zero_topics_falls_back_to_governance() -> None:
    result = classify("Festa del paese", "Musica, giochi e una torta per tutti in piazza.")
    assert result.topics == ("governance",)
    assert result.fallback is True


def test_inflected_forms_and_accents_match_the_same_lemma() -> None:
    assert lemmas("Disabilità DISABILITA") == ["disabilita", "disabilita"]
    assert lemmas("servizi sociali") == lemmas("servizio sociale")
    assert lemmas("dell’Area") == lemmas("dell'area")


def test_model_from_data_respects_weights_and_threshold() -> None:
    model = parse_model(
        {
            "settings": {"title_weight": 2, "relative_threshold": 0.9, "min_score": 1},
            "topics": {"welfare": {"asilo nido": 5}, "mobility": {"bicicletta": 4}},
        }
    )
    result = classify("Asilo nido e bicicletta", "", model)
    assert result.topics == ("welfare",)  # 10 vs 8: mobility is below 90% of the best
    assert result.scores == {"welfare": 10.0, "mobility": 8.0}
