"""Prepared messages, the token bucket, backoff and DKIM, without a database."""

from __future__ import annotations

import email
import email.policy
import random
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import dkim
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter import mailparts
from newsletter.delivery.dkim import DkimSigner
from newsletter.delivery.message import (
    HeaderInjection,
    Recipient,
    build_template,
    list_id,
    personalise,
    qp_url,
)
from newsletter.delivery.ratelimit import TokenBucket
from newsletter.delivery.store import retry_at
from newsletter.delivery.transport import dot_stuff

LONG_URL = "https://newsletter.example.org/unsubscribe/" + "Ab9_-" * 30


def template(**extra: object) -> object:
    return build_template(
        mail_from="Area Omogenea Cremasca <newsletter@aoc.example.org>",
        subject="Più notizie per l'Area: è già lunedì",
        text=f"Ciao àèìòù\n{mailparts.UNSUBSCRIBE_URL}\nfine riga con spazio \n",
        html=(
            f'<a href="{mailparts.UNSUBSCRIBE_URL}">via</a> '
            f'<a href="{mailparts.PREFERENCES_URL}">p</a>'
        ),
        list_id_value=list_id("weekly:it:welfare", "aoc.example.org"),
        **extra,  # type: ignore[arg-type]
    )


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_personalised_bytes_parse_back_with_long_urls_intact() -> None:
    data = personalise(
        template(),  # type: ignore[arg-type]
        Recipient("a@example.org", "<7.x@aoc.example.org>", LONG_URL, LONG_URL + "p"),
        date="Sat, 21 Nov 2026 10:00:00 +0000",
    )
    message = parse(data)
    assert message["Subject"] == "Più notizie per l'Area: è già lunedì"
    assert message["Date"] == "Sat, 21 Nov 2026 10:00:00 +0000"
    assert message["List-Unsubscribe"] == f"<{LONG_URL}>"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()
    assert text == f"Ciao àèìòù\n{LONG_URL}\nfine riga con spazio \n"
    assert f'href="{LONG_URL}"' in html
    assert f'href="{LONG_URL}p"' in html
    assert all(len(line) <= 76 for line in data.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))


def test_list_ids_differ_per_audience() -> None:
    a = list_id("weekly:it:welfare;mobility", "aoc.example.org")
    b = list_id("weekly:it:energy", "aoc.example.org")
    assert a != b
    assert a == "<weekly-it-welfare-mobility.aoc.example.org>"


def test_qp_url_escapes_equals_and_wraps() -> None:
    assert qp_url("https://x/a=b") == b"https://x/a=3Db"
    wrapped = qp_url(LONG_URL)
    assert max(len(line) for line in wrapped.split(b"\r\n")) <= 76
    assert wrapped.replace(b"=\r\n", b"") == LONG_URL.encode()


def test_dot_stuffing() -> None:
    assert dot_stuff(b"a\r\n.b\r\n") == b"a\r\n..b\r\n.\r\n"
    assert dot_stuff(b".a\r\n") == b"..a\r\n.\r\n"
    assert dot_stuff(b"plain\r\n") == b"plain\r\n.\r\n"
    assert dot_stuff(b"no ending") == b"no ending\r\n.\r\n"
    assert dot_stuff(b"a\r\n", b"MAIL FROM:<x>\r\n") == b"a\r\n.\r\nMAIL FROM:<x>\r\n"


def _stuffed_by_the_rule(data: bytes) -> bytes:
    """RFC 5321 4.5.2 line by line: a line that starts with a dot gets one more."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    lines = data[:-2].split(b"\r\n")
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


@given(st.lists(st.sampled_from([b".", b"a", b"\r\n", b"." * 2, b" ", b"=2E"]), max_size=30))
def test_dot_stuffing_follows_the_rule_line_by_line(pieces: list[bytes]) -> None:
    data = b"".join(pieces).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert dot_stuff(data) == _stuffed_by_the_rule(data) + b".\r\n"


def test_token_bucket_limits_the_rate() -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    bucket = TokenBucket(10, burst=1, clock=lambda: clock[0], sleep=sleep)
    for _ in range(21):
        bucket.acquire()
    assert clock[0] == pytest.approx(2.0)
    unlimited = TokenBucket(0)
    started = time.monotonic()
    for _ in range(10000):
        unlimited.acquire()
    assert time.monotonic() - started < 0.5


def test_backoff_grows_with_jitter() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    rng = random.Random(1)
    schedule = (60.0, 300.0, 1800.0)
    delays = [(retry_at(n, schedule, now, rng) - now).total_seconds() for n in (1, 2, 3, 4)]
    assert 60 <= delays[0] <= 72
    assert 300 <= delays[1] <= 360
    assert 1800 <= delays[2] <= 2160
    assert delays[3] >= 3600
    assert len({retry_at(1, schedule, now) for _ in range(5)}) > 1  # jitter


@pytest.fixture(scope="module")
def rsa_key() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_verifies_and_covers_list_unsubscribe(
    rsa_key: tuple[bytes, bytes],
) -> None:
    private, record = rsa_key
    signer = DkimSigner("nl2026", "aoc.example.org", private)
    data = personalise(
        template(unsubscribe_mailto="unsub@aoc.example.org"),  # type: ignore[arg-type]
        Recipient("a@example.org", "<7.x@aoc.example.org>", LONG_URL, LONG_URL),
    )
    signed = signer.sign(data)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl2026._domainkey.aoc.example.org."
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    header = parse(signed)["DKIM-Signature"].replace(" ", "").replace("\t", "").lower()
    signed_headers = header.split("h=", 1)[1].split(";", 1)[0].split(":")
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ):
        assert name in signed_headers
    tampered = signed.replace(LONG_URL.encode(), LONG_URL.replace("Ab9", "Zz9").encode(), 1)
    assert tampered != signed
    assert not dkim.verify(tampered, dnsfunc=dns)

    started = time.perf_counter()
    for _ in range(20):
        signer.sign(data)
    per_message_ms = (time.perf_counter() - started) / 20 * 1000
    print(f"DKIM signing: {per_message_ms:.2f} ms per message")
    assert per_message_ms < 200
    assert timedelta(milliseconds=per_message_ms) > timedelta(0)


# --- header injection (issue 12, item 7) ---------------------------------------------------


def _headers_of(data: bytes) -> list[tuple[str, str]]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    message = email.message_from_string(head + "\r\n\r\n", policy=email.policy.default)
    return [(name.lower(), str(value)) for name, value in message.items()]


@pytest.mark.parametrize(
    "subject",
    [
        "Mobilità\r\nBcc: victim@evil.test",  # non-ASCII: the RFC 2047 branch
        "Mobility\r\nBcc: victim@evil.test",  # plain ASCII: used to pass unchanged
        "Mobility\nBcc: victim@evil.test",
        "Mobility\rBcc: victim@evil.test",
        "Mobility" + "x" * 950 + "\r\nBcc: victim@evil.test",  # the long ASCII branch
    ],
)
def test_line_breaks_in_a_subject_fold_into_the_subject(subject: str) -> None:
    built = build_template(
        mail_from="Area <newsletter@aoc.example.org>",
        subject=subject,
        text="t",
        html="<p>h</p>",
        list_id_value=list_id("weekly:it:welfare", "aoc.example.org"),
        extra_headers=[("X-Topic", "welfare\r\nBcc: other@evil.test")],
    )
    data = personalise(built, Recipient("a@example.org", "<1.x@aoc.example.org>", LONG_URL))
    names = [name for name, _ in _headers_of(data)]
    assert "bcc" not in names
    assert names.count("subject") == 1
    assert b"\nBcc:" not in data
    assert b"\rBcc:" not in data
    headers = dict(_headers_of(data))
    assert "Bcc: victim@evil.test" in headers["subject"].replace("  ", " ")
    assert headers["x-topic"] == "welfare Bcc: other@evil.test"
    # every line of the head ends in CRLF: no bare CR or LF made it through
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r" not in head.replace(b"\r\n", b"")
    assert b"\n" not in head.replace(b"\r\n", b"")


def test_line_breaks_in_a_display_name_fold() -> None:
    built = build_template(
        mail_from="Area\r\nBcc: victim@evil.test <newsletter@aoc.example.org>",
        subject="s",
        text="t",
        html="h",
    )
    data = personalise(built, Recipient("a@example.org", "<1.x@aoc.example.org>"))
    assert "bcc" not in [name for name, _ in _headers_of(data)]


@pytest.mark.parametrize(
    "recipient",
    [
        Recipient("a@example.org\r\nBcc: victim@evil.test", "<1.x@aoc.example.org>"),
        Recipient("a@example.org", "<1.x@aoc.example.org>\nBcc: victim@evil.test"),
        Recipient("a@example.org", "<1.x@aoc.example.org>", LONG_URL + "\r\nBcc: v@evil.test"),
    ],
)
def test_per_recipient_values_with_line_breaks_are_refused(recipient: Recipient) -> None:
    built = template()
    with pytest.raises(HeaderInjection):
        personalise(built, recipient)  # type: ignore[arg-type]


def test_header_names_and_list_values_are_checked() -> None:
    with pytest.raises(HeaderInjection):
        build_template(
            mail_from="a@aoc.example.org",
            subject="s",
            text="t",
            html="h",
            extra_headers=[("X-A: 1\r\nBcc", "v@evil.test")],
        )
    with pytest.raises(HeaderInjection):
        build_template(
            mail_from="a@aoc.example.org",
            subject="s",
            text="t",
            html="h",
            list_id_value="<x.aoc.example.org>",
            unsubscribe_mailto="u@aoc.example.org?\r\nBcc: v@evil.test",
        )
