"""The editor-trained model: what it learns, how much it may say, and its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.articles import learned
from newsletter.articles.classify import classify

TOPICS = ("welfare", "mobility", "energy", "governance")

# "Ecosportello" is a word only this area's editors know: they label it energy every time.
ENERGY = [
    learned.Labelled(
        f"Ecosportello di {place}", f"Apre l'ecosportello {n} a {place}.", frozenset({"energy"})
    )
    for n, place in enumerate(["Crema", "Offanengo", "Pandino", "Vailate", "Soncino", "Dovera"] * 6)
]
OTHERS = [
    learned.Labelled(title, text, frozenset({topic}))
    for topic, title, text in [
        ("mobility", "Nuova pista ciclabile", "La pista ciclabile collega due paesi."),
        ("mobility", "Autobus per la stazione", "Più corse di autobus per i pendolari."),
        ("mobility", "Treni in ritardo", "La ferrovia ha avuto un guasto."),
        ("welfare", "Centro diurno per anziani", "Il servizio sociale accoglie gli anziani."),
        ("welfare", "Asilo nido comunale", "Le famiglie possono iscrivere i bambini."),
        ("welfare", "Assistenza domiciliare", "Gli operatori aiutano le persone fragili."),
        ("governance", "Approvato il bilancio", "La giunta e il consiglio comunale votano."),
        ("governance", "Regolamento dell'assemblea", "I sindaci cambiano lo statuto."),
        ("governance", "Servizi digitali", "Consorzio.it porta pagoPA in dieci comuni."),
    ]
    * 3
]


@pytest.fixture(scope="module")
def model() -> learned.LearnedModel:
    return learned.train(ENERGY + OTHERS, TOPICS)


def test_what_editors_label_is_learned_where_keywords_know_nothing(
    model: learned.LearnedModel,
) -> None:
    title, text = "Ecosportello, orari di dicembre", "L'ecosportello resta aperto il sabato."
    assert classify(title, text).fallback  # the keywords alone have no clue
    result = learned.combine(title, text, model)
    assert result.topics == ("energy",)
    assert "ecosportello" in result.learned["energy"]


def test_pure_python_inference_matches_scikit_learn(model: learned.LearnedModel) -> None:
    from sklearn.linear_model import LogisticRegression

    items = ENERGY + OTHERS
    # refit the same way and compare probabilities on an unseen text
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, min_df=2)
    matrix = vectorizer.fit_transform([learned.features(i.title, i.text) for i in items])
    fitted = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000)
    fitted.fit(matrix, ["energy" in i.topics for i in items])
    title, text = "Ecosportello e pista ciclabile", "Orari dell'ecosportello e corse di autobus."
    expected = fitted.predict_proba(vectorizer.transform([learned.features(title, text)]))[0][1]
    assert learned.probabilities(model, title, text)["energy"] == pytest.approx(expected, abs=1e-4)


def test_a_handful_of_labels_cannot_overrule_the_keywords() -> None:
    # four mischievous labels calling cycling news "welfare"
    few = [
        learned.Labelled(
            "Pista ciclabile", "Nuova pista ciclabile in paese.", frozenset({"welfare"})
        )
    ] * 4
    model = learned.train(few, TOPICS)
    assert model.weights == {}  # not enough examples either way for any topic
    title, text = "Nuova pista ciclabile a Ricengo", "La pista ciclabile arriva alla stazione."
    assert learned.combine(title, text, model).topics == classify(title, text).topics
    assert model.share < 0.15


def test_the_model_file_round_trips_and_is_plain_json(
    model: learned.LearnedModel, tmp_path: Path
) -> None:
    path = tmp_path / "topic-model.json"
    learned.save(model, path)
    assert path.read_text(encoding="utf-8").startswith('{"format":1')
    loaded = learned.load(path)
    assert loaded is not None
    title, text = "Ecosportello aperto", "Consulenze all'ecosportello."
    assert learned.probabilities(loaded, title, text) == learned.probabilities(model, title, text)
    assert learned.load(tmp_path / "missing.json") is None
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
