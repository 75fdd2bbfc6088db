"""Callback targets inside our own network are refused unless allow-listed (SSRF)."""

from __future__ import annotations

import ipaddress

import pytest

from support.ssrf import (
    CallbackTargetRefused,
    CallbackTargetUnresolvable,
    address_refusal_reason,
    callback_target_resolve,
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.8.9.10:8080/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://224.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://240.0.0.1/hook",
        "http://2130706433/hook",  # 127.0.0.1 written as one decimal number
        "http://localhost/hook",
        "https://localhost:8443/hook",
    ],
)
def test_internal_targets_are_refused(url):
    with pytest.raises(CallbackTargetRefused):
        callback_target_resolve(url=url, allowed_hosts=[])


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/x",
        "http:///nohost",
        "http://x:99999/",
    ],
)
def test_non_http_or_malformed_urls_are_refused(url):
    with pytest.raises(CallbackTargetRefused):
        callback_target_resolve(url=url, allowed_hosts=[])


def test_an_allow_listed_host_may_be_internal():
    target = callback_target_resolve(url="http://127.0.0.1:9000/hook", allowed_hosts=["127.0.0.1"])
    assert (target.ip, target.port, target.allow_listed) == ("127.0.0.1", 9000, True)


def test_the_allow_list_matches_names_not_what_they_resolve_to():
    # Allow-listing 127.0.0.1 does not open "localhost", which resolves there too.
    with pytest.raises(CallbackTargetRefused):
        callback_target_resolve(url="http://localhost/hook", allowed_hosts=["127.0.0.1"])
    target = callback_target_resolve(url="http://LocalHost/hook", allowed_hosts=["localhost"])
    assert ipaddress.ip_address(target.ip).is_loopback


def test_a_public_address_is_allowed():
    target = callback_target_resolve(url="https://8.8.8.8/hook", allowed_hosts=[])
    assert (target.scheme, target.host, target.ip, target.port) == (
        "https",
        "8.8.8.8",
        "8.8.8.8",
        443,
    )


def test_a_name_with_one_private_record_is_refused(monkeypatch):
    # DNS is outside our system: a stand-in answers with one public and one private address.
    import socket

    def fake_getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(CallbackTargetRefused, match="10.0.0.7"):
        callback_target_resolve(url="https://mixed.customer.test/hook", allowed_hosts=[])


def test_an_unresolvable_name_is_a_temporary_error():
    with pytest.raises(CallbackTargetUnresolvable):
        callback_target_resolve(url="https://does-not-exist.invalid/hook", allowed_hosts=[])


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("2002:0a00:0001::1", True),  # 6to4 wrapping 10.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 wrapping 169.254.169.254
        ("ff02::1", True),
        ("198.51.100.7", True),  # documentation range, not globally routable
    ],
)
def test_address_classification(address, refused):
    assert (address_refusal_reason(ipaddress.ip_address(address)) is not None) is refused
