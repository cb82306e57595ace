"""The address guard of newsletter/fetch.py: every spelling of an inside address is refused."""

from __future__ import annotations

import ipaddress

import pytest

from newsletter import fetch

STRICT = fetch.Policy()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0", "0.0.0.0"),  # noqa: S104
    ],
)
def test_numeric_forms_mean_what_inet_aton_means(host: str, expected: str) -> None:
    assert fetch.numeric_ipv4(host) == ipaddress.IPv4Address(expected)


@pytest.mark.parametrize("host", ["example.org", "1.2.3.4.5", "256.1.1.1", "0x", "08.1", "1e3"])
def test_names_are_not_numbers(host: str) -> None:
    assert fetch.numeric_ipv4(host) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "ff02::1",
    ],
)
def test_inside_addresses_are_refused(address: str) -> None:
    with pytest.raises(fetch.FetchRefused) as caught:
        fetch.check_address(address, STRICT)
    assert caught.value.message == fetch.REFUSED_MESSAGE  # nothing about the network
    assert "address" in caught.value.detail


@pytest.mark.parametrize("address", ["93.184.216.34", "151.101.1.69", "2a00:1450:4002::65"])
def test_public_addresses_pass(address: str) -> None:
    assert str(fetch.check_address(address, STRICT)) == address


def test_policy_switches() -> None:
    assert str(fetch.check_address("10.0.0.5", fetch.Policy(allow_private=True))) == "10.0.0.5"
    allowed = fetch.Policy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    fetch.check_address("10.20.3.4", allowed)
    with pytest.raises(fetch.FetchRefused):
        fetch.check_address("10.21.3.4", allowed)


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/feed",
        "http://0x7f.1/feed",
        "http://[::1]:8080/",
        "http://[::ffff:7f00:1]/",
        "https://10.0.0.1/rss",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://example.org/feed",
        "file:///etc/passwd",
        "http://user:pw@example.org/",
    ],
)
def test_urls_are_refused_without_any_lookup(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("no DNS lookup for a literal address")

    monkeypatch.setattr("socket.getaddrinfo", no_dns)
    with pytest.raises(fetch.FetchRefused):
        fetch.check_url(url, STRICT)
