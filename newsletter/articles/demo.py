"""Sample articles for ``newsletter demo``: short original texts about the four topics."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from newsletter.articles import service
from newsletter.articles.models import SourceKind
from newsletter.db import utcnow

# (hours ago, title, body, topics given by the "CMS" or () to let the classifier choose)
SAMPLES: tuple[tuple[int, str, str, tuple[str, ...]], ...] = (
    (
        3,
        "Nuovo servizio di assistenza domiciliare per gli anziani soli",
        "Da gennaio i servizi sociali dei comuni del sub-ambito di Crema offriranno "
        "assistenza domiciliare alle persone anziane che vivono sole.\n\n"
        "Le famiglie possono chiedere informazioni allo sportello sociale del proprio comune.",
        (),
    ),
    (
        9,
        "Pista ciclabile tra Pianengo e Ricengo: lavori al via",
        "Partono i lavori del tratto ciclopedonale che collegherà Pianengo e Ricengo lungo il "
        "Serio. La pista ciclabile sarà illuminata e separata dalla strada provinciale.\n\n"
        "Durante il cantiere la viabilità resterà aperta con un senso unico alternato.",
        (),
    ),
    (
        20,
        "Comunità energetica a Offanengo: aperte le adesioni",
        "Il comune di Offanengo invita famiglie e imprese ad aderire alla comunità energetica "
        "rinnovabile nata attorno ai pannelli fotovoltaici della palestra comunale.\n\n"
        "L'energia condivisa riduce le bollette e le emissioni di CO2.",
        (),
    ),
    (
        30,
        "L'assemblea dei sindaci approva il nuovo regolamento dell'Area",
        "L'assemblea dei sindaci dell'Area Omogenea ha approvato il regolamento che definisce "
        "come i comuni decidono insieme sui servizi gestiti in forma associata.\n\n"
        "Il testo passa ora al voto dei consigli comunali.",
        (),
    ),
    (
        44,
        "Più corse degli autobus tra Vailate, Agnadello e Crema",
        "Dal lunedì al venerdì il trasporto pubblico aggiunge quattro corse mattutine per gli "
        "studenti pendolari diretti alle scuole di Crema.",
        ("mobility",),
    ),
    (
        56,
        "Illuminazione pubblica a LED in dieci comuni del Cremasco",
        "Grazie a un bando regionale dieci comuni sostituiranno i vecchi lampioni con impianti "
        "a LED: un efficientamento che dimezza i consumi di energia elettrica.",
        (),
    ),
    (
        70,
        "Sportello unico digitale per le pratiche edilizie",
        "Consorzio.it attiva per i comuni soci uno sportello digitale unico: cittadini e "
        "tecnici presentano le pratiche online, i comuni le gestiscono con le stesse regole.",
        ("governance",),
    ),
    (
        85,
        "Centri estivi a Castelleone e Soncino: contributi alle famiglie",
        "Le famiglie con figli minori possono chiedere un contributo per i centri estivi. "
        "Le domande si presentano ai servizi sociali entro fine maggio.",
        (),
    ),
    (
        100,
        "Treni più puntuali sulla linea Cremona-Treviglio",
        "Dopo i lavori alla stazione di Crema i treni regionali della linea verso Treviglio "
        "hanno recuperato puntualità; restano disagi per i pendolari la sera.",
        (),
    ),
    (
        120,
        "Bilancio partecipato: Spino d’Adda chiede idee ai cittadini",
        "Il comune di Spino d’Adda dedica parte del bilancio a progetti proposti dai cittadini, "
        "dal verde pubblico alla sicurezza stradale davanti alle scuole.",
        (),
    ),
)


def load_demo_articles(app: Flask) -> None:
    """Idempotent: upserts the same ten articles, dated relative to now."""
    source = service.get_or_create_source("Demo", SourceKind.PUSH)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    items = [
        service.ArticleInput(
            external_id=f"demo-{index}",
            title=title,
            published_at=now - timedelta(hours=hours_ago),
            url=f"{app.config['BASE_URL'].rstrip('/')}/#demo-{index}",
            body=body,
            topics=topics,
        )
        for index, (hours_ago, title, body, topics) in enumerate(SAMPLES, start=1)
    ]
    service.upsert_many(source, items)
