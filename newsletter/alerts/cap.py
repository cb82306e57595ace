"""An alert as an OASIS Common Alerting Protocol 1.2 document (``/avvisi/<id>.cap``).

The document is the alert's latest released message (CAP's ``msgType``: Alert, Update or
Cancel), with ``references`` to every earlier released message, and two ``info`` blocks: Italian
and English. Built as an element tree (lxml), never by pasting strings: what issuers typed is
text content, escaped by the serialiser. Pure: the caller gathers the rows and the settings, so
the same inputs always give the same bytes (the ETag is their hash).

Mapping (docs/feeds.md, "CAP 1.2"): topic -> category, severity -> severity, urgency always
Immediate, certainty Observed once the alert is in force (else Likely), effective and onset =
the start, expires = the expiry, area = the comuni's names with their ISTAT codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from newsletter.alerts.models import AlertMessage, MessageType
from newsletter.vocabulary import AlertSeverity

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MIMETYPE = "application/cap+xml"
ALL_AREA = "Area Omogenea Cremasca"
ISTAT = "ISTAT"  # geocode valueName: the comune's six-digit ISTAT code

MSG_TYPES = {MessageType.ALERT: "Alert", MessageType.UPDATE: "Update", MessageType.CANCEL: "Cancel"}
SEVERITIES = {
    AlertSeverity.MINOR: "Minor",
    AlertSeverity.MODERATE: "Moderate",
    AlertSeverity.SEVERE: "Severe",
    AlertSeverity.EXTREME: "Extreme",
}
#: Our topics as CAP categories; an alert without a topic (or a new topic) is "Other".
CATEGORIES = {
    "welfare": "Health",
    "mobility": "Transport",
    "energy": "Infra",
    "governance": "Other",
}
EVENT = {"it-IT": "Avviso urgente", "en-US": "Urgent alert"}
MORE = {"it-IT": "Maggiori informazioni", "en-US": "More information"}


@dataclass(frozen=True)
class Place:
    name: str
    istat_code: str | None


@dataclass(frozen=True)
class CapSource:
    """Everything one document says, gathered by ``alerts.service.cap_document``."""

    alert_id: int
    messages: Sequence[AlertMessage]  # released, oldest first; the last one is the document
    places: Sequence[Place]  # the last message's comuni, by name (every comune when all)
    everywhere: bool
    topic_slug: str | None
    topic_names: tuple[str, str] | None  # (Italian, English)
    sender: str  # the BASE_URL host: globally unique, no spaces or commas
    sender_name: str
    web: str  # the alert's page
    tz: ZoneInfo


def cap_time(value: datetime, tz: ZoneInfo) -> str:
    """CAP's dateTime: local time with its offset, whole seconds, never "Z"."""
    return value.astimezone(tz).replace(microsecond=0).isoformat()


def message_identifier(sender: str, alert_id: int, sequence: int) -> str:
    """Unique per message, stable forever: ``<host>:AOC-<alert>.<sequence>``."""
    return f"{sender}:AOC-{alert_id}.{sequence}"


def _add(parent: etree._Element, name: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{CAP_NS}}}{name}")
    child.text = text
    return child


def _sent(message: AlertMessage) -> datetime:
    return message.released_at or message.issued_at


def _info(root: etree._Element, source: CapSource, message: AlertMessage, language: str) -> None:
    english = language == "en-US"
    info = etree.SubElement(root, f"{{{CAP_NS}}}info")
    _add(info, "language", language)
    _add(info, "category", CATEGORIES.get(source.topic_slug or "", "Other"))
    event = EVENT[language]
    if source.topic_names is not None:
        event += " – " + source.topic_names[1 if english else 0]
    _add(info, "event", event)
    _add(info, "urgency", "Immediate")
    _add(info, "severity", SEVERITIES[message.severity])
    in_force = message.starts_at <= _sent(message)
    _add(info, "certainty", "Observed" if in_force else "Likely")
    _add(info, "effective", cap_time(message.starts_at, source.tz))
    _add(info, "onset", cap_time(message.starts_at, source.tz))
    _add(info, "expires", cap_time(message.expires_at, source.tz))
    _add(info, "senderName", source.sender_name)
    headline = (message.headline_en or message.headline) if english else message.headline
    text = (message.text_en or message.text) if english else message.text
    if message.url:
        text += f"\n\n{MORE[language]}: {message.url}"
    _add(info, "headline", headline)
    _add(info, "description", text)
    _add(info, "web", source.web)
    area = etree.SubElement(info, f"{{{CAP_NS}}}area")
    if source.everywhere:
        _add(area, "areaDesc", ALL_AREA)
    else:
        _add(area, "areaDesc", ", ".join(place.name for place in source.places))
    for place in source.places:
        if place.istat_code:
            geocode = etree.SubElement(area, f"{{{CAP_NS}}}geocode")
            _add(geocode, "valueName", ISTAT)
            _add(geocode, "value", place.istat_code)


def build(source: CapSource) -> bytes:
    """The CAP 1.2 document of the source's latest message, UTF-8 with a declaration."""
    *earlier, message = source.messages
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _add(root, "identifier", message_identifier(source.sender, source.alert_id, message.sequence))
    _add(root, "sender", source.sender)
    _add(root, "sent", cap_time(_sent(message), source.tz))
    _add(root, "status", "Actual")
    _add(root, "msgType", MSG_TYPES[message.msg_type])
    _add(root, "scope", "Public")
    if message.note and message.msg_type is not MessageType.ALERT:
        _add(root, "note", message.note)
    if earlier:
        # CAP 1.2 3.2.1: "sender,identifier,sent" of each earlier message, space-separated.
        _add(
            root,
            "references",
            " ".join(
                ",".join(
                    (
                        source.sender,
                        message_identifier(source.sender, source.alert_id, m.sequence),
                        cap_time(_sent(m), source.tz),
                    )
                )
                for m in earlier
            ),
        )
    _add(root, "incidents", message_identifier(source.sender, source.alert_id, 1))
    for language in ("it-IT", "en-US"):
        _info(root, source, message, language)
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True))
