"""Optional DKIM signing with dkimpy, over the headers that matter for list mail.

Signing happens per recipient (To, Message-ID and the unsubscribe URL differ), so each
message costs one RSA signature; ``docs/delivery.md`` gives the measured cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim

from newsletter.delivery.message import domain_of
from newsletter.exceptions import ConfigurationError

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


@dataclass(frozen=True)
class DkimSigner:
    selector: str
    domain: str
    private_key: bytes

    def sign(self, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature header in front (only headers it has are signed)."""
        header_end = message.find(b"\r\n\r\n")
        head = message[: header_end + 2].lower()
        present = [
            h for h in SIGNED_HEADERS if head.startswith(h + b":") or b"\n" + h + b":" in head
        ]
        signature = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=present,
        )
        return bytes(signature) + message


def signer_from_config(config: Mapping[str, Any]) -> DkimSigner | None:
    selector = config.get("DKIM_SELECTOR")
    key_file = config.get("DKIM_PRIVATE_KEY_FILE")
    if not selector or not key_file:
        return None
    try:
        key = Path(key_file).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"DKIM_PRIVATE_KEY_FILE {key_file}: {exc.strerror}") from None
    domain = config.get("DKIM_DOMAIN") or domain_of(str(config["MAIL_FROM"]))
    return DkimSigner(str(selector), str(domain), key)
