"""The demo's story: three months of a running service, for ``newsletter demo`` only.

A fresh ``make run`` should show what the service looks like after a season of use: the 48
mayors, a few hundred citizens who signed up over three months (both languages, every topic
and frequency), six weekly editions in the archive and deliveries (a few failed or bounced) in
every dashboard chart. The services stamp everything "now", so the past is written here with
past timestamps; the editions themselves are composed by the digests service. Idempotent: a
second start finds the story told and leaves it alone.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import click
import sqlalchemy as sa
from flask import Flask

from newsletter.admin import auth
from newsletter.admin.models import User, UserRole
from newsletter.alerts import service as alerts
from newsletter.alerts.schemas import AlertIn
from newsletter.articles import service as articles
from newsletter.articles.models import Article, SourceKind
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.digests import service as digests
from newsletter.digests.models import Digest, DigestKind
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    Frequency,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
)

ADMIN_EMAIL = "admin@demo.example"
MARKER = "sindaco@crema.demo.example"  # present once the story has been told
WEEKS_OF_SIGNUPS = 13
EDITION_WEEKS = 6
CITIZENS = 320

# Week by week (oldest first): titles, a line of text and the topics, in our own words.
STORY: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Bando per l'assistenza domiciliare: domande fino a fine mese",
        "Le famiglie con persone anziane o non autosufficienti possono chiedere un contributo.",
        ("welfare",),
    ),
    (
        "Treni Crema-Milano: orari invernali in vigore",
        "Cambiano alcune corse del mattino; le coincidenze con i bus restano garantite.",
        ("mobility",),
    ),
    (
        "Illuminazione a LED: conclusi i lavori in dieci comuni",
        "I nuovi punti luce riducono i consumi della rete pubblica di quasi la metà.",
        ("energy",),
    ),
    (
        "Assemblea dei sindaci: approvato il piano delle attività",
        "Il piano fissa le priorità comuni per il prossimo anno, dal digitale ai servizi sociali.",
        ("governance",),
    ),
    (
        "Sportello unico per la disabilità: nuove sedi a Crema e Pandino",
        "Le famiglie trovano in un solo posto informazioni, pratiche e orientamento ai servizi.",
        ("welfare",),
    ),
    (
        "Ciclabile del Serio: aperto il tratto tra Ricengo e Pianengo",
        "Tre chilometri separati dalla provinciale, illuminati e collegati alle scuole.",
        ("mobility",),
    ),
    (
        "Comunità energetica di Offanengo: i primi cento aderenti",
        "Famiglie e imprese condividono l'energia dei pannelli sul tetto della palestra.",
        ("energy",),
    ),
    (
        "Servizi digitali: pagamenti online in tutti i 48 comuni",
        "Multe, mense e tributi si pagano con pagoPA dal sito del proprio comune.",
        ("governance",),
    ),
    (
        "Centri estivi: iscrizioni anticipate per le famiglie che lavorano",
        "I comuni coordinano calendari e tariffe per chi ha figli dai 3 ai 14 anni.",
        ("welfare",),
    ),
    (
        "Bus a chiamata nei comuni del nord dell'area",
        "Si prenota per telefono o app il giorno prima; il servizio copre anche le frazioni.",
        ("mobility", "welfare"),
    ),
    (
        "Fotovoltaico sulle scuole: finanziati sei nuovi impianti",
        "Gli impianti copriranno in parte i consumi di riscaldamento e illuminazione.",
        ("energy",),
    ),
    (
        "Bilancio partecipato: a Spino d'Adda vincono tre progetti",
        "I cittadini hanno scelto verde pubblico, un attraversamento sicuro e una biblioteca.",
        ("governance",),
    ),
    (
        "Trasporto sociale per visite mediche: nuove convenzioni",
        "Volontari e cooperative accompagnano chi non può guidare agli ospedali della zona.",
        ("welfare",),
    ),
    (
        "Ponte sul Serio a Montodine: lavori notturni per due settimane",
        "Di giorno il ponte resta aperto; di notte il traffico è deviato sulla provinciale.",
        ("mobility",),
    ),
    (
        "Audit energetico degli edifici comunali: i risultati",
        "Municipi e palestre sono i primi candidati per cappotti e pompe di calore.",
        ("energy",),
    ),
    (
        "Regolamento unico per i servizi sociali dell'ambito",
        "Stesse soglie ISEE e stesse regole di accesso in tutti i comuni dell'area.",
        ("welfare", "governance"),
    ),
    (
        "Stazione di Crema: nuovo parcheggio per le biciclette",
        "Duecento posti coperti e videosorvegliati, gratuiti per chi viaggia in treno.",
        ("mobility",),
    ),
    (
        "Caldaie pubbliche: il passaggio alle pompe di calore",
        "Il piano sostituisce in cinque anni gli impianti più vecchi delle scuole.",
        ("energy",),
    ),
    (
        "Consiglio dell'area: nuovo portale open data",
        "Bilanci, contratti e dati ambientali dei 48 comuni in formati aperti.",
        ("governance",),
    ),
    (
        "Anziani e caldo: il piano dei comuni per l'estate",
        "Telefonate di controllo, luoghi climatizzati e consegne a domicilio per chi è solo.",
        ("welfare",),
    ),
    (
        "Zone 30 davanti alle scuole in dodici comuni",
        "Limiti più bassi, attraversamenti rialzati e percorsi casa-scuola a piedi.",
        ("mobility",),
    ),
    (
        "Comunità energetiche: sportello di consulenza gratuito",
        "Tecnici del Consorzio aiutano comuni e cittadini a costituire nuove comunità.",
        ("energy",),
    ),
    (
        "Gestione associata della polizia locale: firmata la convenzione",
        "Pattuglie comuni e una centrale unica coprono anche i paesi più piccoli.",
        ("governance",),
    ),
    (
        "Asili nido: contributi per ridurre le rette",
        "Il contributo si chiede una volta sola e vale per tutto l'anno educativo.",
        ("welfare",),
    ),
)


@dataclass(frozen=True)
class StoryCounts:
    mayors: int
    citizens: int
    editions: int


def _weighted_topics(rnd: random.Random) -> list[str]:
    weights = {"welfare": 0.55, "mobility": 0.5, "energy": 0.35, "governance": 0.25}
    return [slug for slug, w in weights.items() if rnd.random() < w] or ["welfare"]


def _consent(
    subscriber: Subscriber, action: ConsentAction, when: datetime, channel: ConsentChannel
) -> None:
    db.session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            action=action,
            occurred_at=when,
            notice_version="2026-11",
            channel=channel,
            details={"topics": subscriber.topic_slugs, "frequency": subscriber.frequency.value},
        )
    )


T = TypeVar("T")


def _weighted(rnd: random.Random, bounds: tuple[tuple[float, T], ...], otherwise: T) -> T:
    """One draw: the value of the first cumulative bound the roll is under, else ``otherwise``."""
    roll = rnd.random()
    return next((value for bound, value in bounds if roll < bound), otherwise)


def _service_mail(subscriber: Subscriber, when: datetime, rnd: random.Random) -> None:
    """The confirmation mail each sign-up got: mostly delivered, a typo bounces now and then."""
    status = _weighted(
        rnd, ((0.95, DeliveryStatus.SENT), (0.985, DeliveryStatus.BOUNCED)), DeliveryStatus.FAILED
    )
    outbox.add_past(
        DeliveryKind.CONFIRM,
        subscriber_id=subscriber.id,
        status=status,
        at=when,
        sent_at=None if status == DeliveryStatus.FAILED else when + timedelta(seconds=40),
        attempts=1 if status != DeliveryStatus.FAILED else 5,
        error="550 5.1.1 mailbox unavailable" if status != DeliveryStatus.SENT else None,
    )


def _history(
    citizen: Subscriber, created: datetime, confirmed: datetime, rnd: random.Random
) -> None:
    _consent(citizen, ConsentAction.SUBSCRIBE, created, ConsentChannel.WEB)
    _service_mail(citizen, created, rnd)
    if citizen.status is not SubscriberStatus.PENDING:
        _consent(citizen, ConsentAction.CONFIRM, confirmed, ConsentChannel.WEB)
    if citizen.status is SubscriberStatus.UNSUBSCRIBED and citizen.unsubscribed_at is not None:
        _consent(citizen, ConsentAction.UNSUBSCRIBE, citizen.unsubscribed_at, ConsentChannel.WEB)


def _people(now: datetime, rnd: random.Random) -> tuple[int, int]:
    topics = {t.slug: t for t in db.session.scalars(sa.select(Topic))}
    towns = list(db.session.scalars(sa.select(Municipality).order_by(Municipality.name)))
    start = now - timedelta(weeks=WEEKS_OF_SIGNUPS)
    later: list[Callable[[], None]] = []
    for town in towns:  # the mayors, added by Consorzio.it at the start
        slug = "".join(ch for ch in town.name.lower() if ch.isalnum())
        mayor = Subscriber(
            email=f"sindaco@{slug}.demo.example",
            name=f"Sindaco di {town.name}",
            status=SubscriberStatus.ACTIVE,
            role=Role.MAYOR,
            frequency=Frequency.WEEKLY,
            municipality=town,
            locale="it",
            alerts=True,  # mayors get their comune's alerts unless they turn them off
            created_at=start,
            confirmed_at=start,
        )
        for topic in topics.values():
            mayor.subscriptions.append(Subscription(topic=topic, created_at=start))
        db.session.add(mayor)
        later.append(partial(_consent, mayor, ConsentAction.SUBSCRIBE, start, ConsentChannel.CLI))
    # Citizens: sign-ups grow week by week (the comuni link the page from their sites).
    span = (now - start).total_seconds()
    for n in range(1, CITIZENS + 1):
        created = start + timedelta(seconds=span * (rnd.random() ** 0.7))
        created = min(created, now - timedelta(minutes=10))
        status = _weighted(
            rnd,
            (
                (0.8, SubscriberStatus.ACTIVE),
                (0.88, SubscriberStatus.PENDING),
                (0.96, SubscriberStatus.UNSUBSCRIBED),
            ),
            SubscriberStatus.BOUNCED,
        )
        if status is SubscriberStatus.PENDING:
            created = now - timedelta(hours=rnd.randint(1, 6 * 24 - 1))  # recent, not purged
        confirmed = min(created + timedelta(minutes=rnd.randint(2, 900)), now)
        town_of = rnd.choice(towns) if rnd.random() < 0.7 else None
        citizen = Subscriber(
            email=f"cittadino{n:03d}@demo.example",
            status=status,
            role=Role.CITIZEN,
            frequency=rnd.choices(list(Frequency), weights=[2, 3, 5])[0],
            municipality=town_of,
            alerts=town_of is not None and n % 3 != 0,  # two in three with a comune
            locale="en" if rnd.random() < 0.12 else "it",
            created_at=created,
            confirmed_at=None if status is SubscriberStatus.PENDING else confirmed,
            unsubscribed_at=(
                min(confirmed + timedelta(days=rnd.randint(3, 40)), now)
                if status is SubscriberStatus.UNSUBSCRIBED
                else None
            ),
        )
        for slug in _weighted_topics(rnd):
            citizen.subscriptions.append(Subscription(topic=topics[slug], created_at=created))
        db.session.add(citizen)
        later.append(partial(_history, citizen, created, confirmed, rnd))
    db.session.flush()  # one round trip for every id; then the history that refers to them
    for step in later:
        step()
    db.session.commit()
    return len(towns), CITIZENS


def _articles(app: Flask, edition_times: list[datetime], rnd: random.Random) -> None:
    source = articles.get_or_create_source("Sito del Consorzio.it (demo)", SourceKind.PUSH)
    base = app.config["BASE_URL"].rstrip("/")
    per_week = len(STORY) // len(edition_times)
    items = []
    when: dict[str, datetime] = {}
    for index, (title, text, slugs) in enumerate(STORY):
        edition_at = edition_times[index // per_week]
        published = edition_at - timedelta(days=rnd.randint(1, 6), hours=rnd.randint(0, 10))
        external_id = f"story-{index + 1}"
        when[external_id] = published
        items.append(
            articles.ArticleInput(
                external_id=external_id,
                title=title,
                published_at=published,
                url=f"{base}/#story-{index + 1}",
                summary=text,
                body=text,
                topics=slugs,
            )
        )
    articles.upsert_many(source, items)
    # Written then, not now: the digests of those weeks pick up what had arrived by then.
    for article in db.session.scalars(sa.select(Article).where(Article.source_id == source.id)):
        article.created_at = when[article.external_id] + timedelta(minutes=20)
    db.session.commit()


def _settle(digest_ids: list[int], at: datetime, rnd: random.Random) -> None:
    """The sender's work on an edition's deliveries: most sent, a few failed or bounced."""
    rows = db.session.scalars(
        sa.select(Delivery).where(
            Delivery.digest_id.in_(digest_ids), Delivery.status == DeliveryStatus.QUEUED
        )
    )
    outcomes: tuple[tuple[float, tuple[DeliveryStatus, int, str | None]], ...] = (
        (0.94, (DeliveryStatus.SENT, 1, None)),
        (0.975, (DeliveryStatus.BOUNCED, 1, "5.2.2 mailbox full")),
    )
    gave_up = (DeliveryStatus.FAILED, 5, "421 4.7.0 try again later (gave up)")
    for delivery in rows:
        status, attempts, error = _weighted(rnd, outcomes, gave_up)
        later = at + timedelta(seconds=rnd.randint(5, 900))
        outbox.settle_past(
            delivery,
            status=status,
            at=at,
            sent_at=None if status is DeliveryStatus.FAILED else later,
            attempts=attempts,
            error=error,
        )
    db.session.commit()


def _editions(edition_times: list[datetime], rnd: random.Random) -> int:
    built = 0
    for at in edition_times:
        before = set(db.session.scalars(sa.select(Digest.id)))
        digests.build_digests("weekly", at=at)
        new = [i for i in db.session.scalars(sa.select(Digest.id)) if i not in before]
        for digest in db.session.scalars(sa.select(Digest).where(Digest.id.in_(new))):
            digest.created_at = at
            built += digest.kind == DigestKind.EDITION
        _settle(new, at + timedelta(minutes=1), rnd)
    return built


def admin_credentials(app: Flask) -> tuple[str, str] | None:
    """The demo admin account, created once; its password is kept in the instance folder
    (demo only) so every ``newsletter demo`` can print it."""
    kept = Path(app.instance_path) / "demo-admin.txt"
    exists = db.session.scalar(sa.select(User.id).where(User.email == ADMIN_EMAIL)) is not None
    if exists and kept.is_file():
        return ADMIN_EMAIL, kept.read_text().strip()
    if exists:
        return None  # made by hand: we do not know its password
    password = "demo-" + secrets.token_urlsafe(9)
    auth.create_user(ADMIN_EMAIL, UserRole.ADMIN, password, actor=Actor("system:demo"))
    db.session.commit()
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(password + "\n")
    kept.chmod(0o600)
    return ADMIN_EMAIL, password


def tell(app: Flask, now: datetime | None = None, seed: int = 15) -> StoryCounts | None:
    """Load the story once; None when it is already there."""
    if db.session.scalar(sa.select(Subscriber.id).where(Subscriber.email == MARKER)):
        return None
    now = now or utcnow()
    rnd = random.Random(seed)
    mayors, citizens = _people(now, rnd)
    # The last six Mondays at 07:00 Rome (the weekly digest's slot), oldest first.
    this_week = digests.period_due("weekly", now).end
    edition_times = [this_week - timedelta(weeks=w) for w in range(EDITION_WEEKS - 1, -1, -1)]
    if edition_times[-1] > now:
        edition_times = [t - timedelta(weeks=1) for t in edition_times]
    _articles(app, edition_times, rnd)
    editions = _editions(edition_times, rnd)
    _alerts(now)
    return StoryCounts(mayors, citizens, editions)


def _alerts(now: datetime) -> None:
    """Three urgent alerts: a road closed in Crema (in force), an orange weather warning for
    the whole area (severe: issued by an editor, approved by the demo admin) and a water cut in
    Offanengo that was withdrawn. They go out like real ones, so the captured mail shows them."""
    editor, approver = Actor("redazione@consorzio.demo.example"), Actor(ADMIN_EMAIL)
    later = (now + timedelta(days=2)).isoformat()
    alerts.issue(
        AlertIn.model_validate(
            {
                "headline": "Crema: via Mazzini chiusa al traffico dalle 14:00",
                "text": "Lavori urgenti alla rete idrica: via Mazzini resta chiusa tra piazza "
                "Duomo e via Cavour fino alle 20:00. Deviazioni segnalate sul posto.",
                "severity": "moderate",
                "municipalities": ["Crema"],
                "topic": "mobility",
                "expires_at": (now + timedelta(hours=30)).isoformat(),
                "headline_en": "Crema: via Mazzini closed to traffic from 14:00",
                "text_en": "Urgent water-main works: via Mazzini is closed between piazza "
                "Duomo and via Cavour until 20:00. Detours are signposted.",
            }
        ),
        actor=editor,
        now=now,
    )
    weather = alerts.issue(
        AlertIn.model_validate(
            {
                "headline": "Allerta meteo arancione nel Cremasco: temporali forti",
                "text": "La Protezione civile regionale prevede temporali forti con grandine "
                "fino a domani sera. Evitare sottopassi e argini del Serio e dell'Adda.",
                "severity": "severe",
                "municipalities": ["*"],
                "expires_at": later,
            }
        ),
        actor=editor,
        now=now,
    )
    alerts.approve(weather.id, actor=approver, now=now)
    water = alerts.issue(
        AlertIn.model_validate(
            {
                "headline": "Offanengo: acqua sospesa in via Roma per un guasto",
                "text": "Per un guasto alla condotta l'acqua è sospesa in via Roma e vie "
                "limitrofe. Padania Acque stima il ripristino entro le 18:00.",
                "severity": "minor",
                "municipalities": ["Offanengo"],
                "expires_at": later,
            }
        ),
        actor=editor,
        now=now,
    )
    alerts.cancel(water.alert_id, actor=editor, note="Guasto riparato, acqua di nuovo erogata.")
    db.session.commit()


def load_story(app: Flask) -> None:
    """Demo content hook: tell the story and say how to sign in to the admin area."""
    counts = tell(app)
    if counts is not None:
        click.echo(
            f"Demo story: {counts.mayors} mayors, {counts.citizens} citizens, "
            f"{counts.editions} past editions in the archive (Italian and English)."
        )
    credentials = admin_credentials(app)
    if credentials is not None:
        click.echo(f"Demo admin (demo only): {credentials[0]} / password {credentials[1]}")
