"""Autodiscover against a loopback HTTPS server with made-up host names (DNS injected)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from eassync.eas.auth import BasicAuth
from eassync.eas.autodiscover import (
    Autodiscover,
    AutodiscoverError,
    DiscoveryCache,
    UntrustedHost,
    parse_answer,
    request_body,
)
from eassync.errors import AuthError, ConfigError
from tests.servers.autodiscover import (
    AutodiscoverServer,
    HostPlan,
    autodiscover_server,
    loopback_session,
    srv_lookup,
)
from tests.servers.certs import make_certs

EMAIL = "alice@example.test"
EAS_URL = "https://mail.example.test/Microsoft-Server-ActiveSync"
USERS = {EMAIL: "secret"}
NAMES = [
    "example.test",
    "autodiscover.example.test",
    "mail.example.test",
    "ad.provider.test",
    "other.test",
    "autodiscover.other.test",
    "loop.test",
    "autodiscover.loop.test",
]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"), NAMES)


@pytest.fixture
def server(certs) -> Iterator[AutodiscoverServer]:
    with autodiscover_server(certs) as srv:
        yield srv


def discoverer(
    server: AutodiscoverServer,
    hosts: list[str],
    *,
    password: str = "secret",
    trust: tuple[str, ...] = (),
    srv: dict | None = None,
    email: str = EMAIL,
) -> Autodiscover:
    return Autodiscover(
        email,
        auth=BasicAuth(email, password),
        account="work",
        trust=trust,
        verify=str(server.certs.ca),
        timeout=5,
        session=loopback_session(server.routes(*hosts)),
        srv_lookup=srv_lookup(srv or {}),
    )


def test_request_body_names_the_address_and_the_mobilesync_schema():
    body = request_body("a&b@example.test").decode()
    assert "<EMailAddress>a&amp;b@example.test</EMailAddress>" in body
    assert "mobilesync/responseschema/2006" in body


def test_domain_itself_answers_first(server):
    server.plans["example.test"] = HostPlan(url=EAS_URL, users=USERS)
    found = discoverer(server, ["example.test", "autodiscover.example.test"]).discover()
    assert found.url == EAS_URL
    assert found.display_name == "Alice Example"
    assert [a.url for a in found.attempts] == ["https://example.test/autodiscover/autodiscover.xml"]


def test_falls_through_to_autodiscover_host(server):
    # the bare domain does not resolve (only the autodiscover host is routed)
    server.plans["autodiscover.example.test"] = HostPlan(url=EAS_URL, users=USERS)
    found = discoverer(server, ["autodiscover.example.test"]).discover()
    assert found.url == EAS_URL
    assert "cannot connect" in found.attempts[0].outcome
    assert found.attempts[1].outcome.startswith("ok")


def test_unauthenticated_http_redirect_then_post_with_credentials(server):
    target = "https://mail.example.test/autodiscover/autodiscover.xml"
    server.plans["autodiscover.example.test"] = HostPlan(location=target)
    server.plans["mail.example.test"] = HostPlan(url=EAS_URL, users=USERS)
    found = discoverer(server, ["autodiscover.example.test", "mail.example.test"]).discover()
    assert found.url == EAS_URL
    probes = [s for s in server.seen if s.scheme == "http"]
    assert probes
    assert all(s.authorization is None for s in probes)  # never credentials over http
    assert [a.method for a in found.attempts] == ["POST", "POST", "GET", "POST"]


def test_http_redirect_to_plain_http_is_ignored(server):
    server.plans["autodiscover.example.test"] = HostPlan(
        location="http://mail.example.test/autodiscover/autodiscover.xml"
    )
    with pytest.raises(AutodiscoverError) as err:
        discoverer(server, ["autodiscover.example.test", "mail.example.test"]).discover()
    assert "ignored" in " ".join(a.outcome for a in err.value.attempts)
    assert all(s.authorization is None for s in server.seen if s.scheme == "http")
    assert not [s for s in server.seen if s.host == "mail.example.test"]


def test_srv_host_needs_trust_and_error_names_it(server):
    server.plans["ad.provider.test"] = HostPlan(url=EAS_URL, users=USERS)
    srv = {"_autodiscover._tcp.example.test": [(0, 0, "ad.provider.test.", 443)]}
    with pytest.raises(UntrustedHost) as err:
        discoverer(server, ["ad.provider.test"], srv=srv).discover()
    assert err.value.host == "ad.provider.test"
    assert "autodiscover_trust: [ad.provider.test]" in (err.value.hint or "")
    assert not [s for s in server.seen if s.host == "ad.provider.test"]  # password not sent


def test_srv_host_listed_in_trust_gets_the_request(server):
    server.plans["ad.provider.test"] = HostPlan(url=EAS_URL, users=USERS)
    srv = {"_autodiscover._tcp.example.test": [(0, 0, "ad.provider.test.", 443)]}
    found = discoverer(server, ["ad.provider.test"], srv=srv, trust=("ad.provider.test",))
    assert found.discover().url == EAS_URL


def test_srv_in_own_domain_still_needs_trust(server):
    # DNS is unsigned: an SRV answer inside the domain is no proof either (issue 6)
    server.plans["mail.example.test"] = HostPlan(url=EAS_URL, users=USERS)
    srv = {"_autodiscover._tcp.example.test": [(0, 0, "mail.example.test", 443)]}
    with pytest.raises(UntrustedHost):
        discoverer(server, ["mail.example.test"], srv=srv).discover()


def test_address_redirect_to_other_domain_needs_trust(server):
    server.plans["example.test"] = HostPlan(redirect_email="alice@other.test", users=USERS)
    server.plans["other.test"] = HostPlan(url=EAS_URL)
    with pytest.raises(UntrustedHost) as err:
        discoverer(server, ["example.test", "other.test"]).discover()
    assert err.value.host == "other.test"
    found = discoverer(server, ["example.test", "other.test"], trust=("other.test",)).discover()
    assert found.url == EAS_URL
    assert found.email == "alice@other.test"


def test_redirect_loop_stops_with_a_clear_message(server):
    server.plans["example.test"] = HostPlan(redirect_email="alice@loop.test")
    server.plans["loop.test"] = HostPlan(redirect_email=EMAIL)
    with pytest.raises(AutodiscoverError, match="loop"):
        discoverer(server, ["example.test", "loop.test"], trust=("loop.test",)).discover()


def test_wrong_password_is_reported_as_such_after_all_candidates(server):
    server.plans["example.test"] = HostPlan(url=EAS_URL, users=USERS)
    with pytest.raises(AuthError, match="401") as err:
        discoverer(server, ["example.test"], password="wrong").discover()
    assert "password" in str(err.value)
    assert err.value.exit_code == 2


def test_server_error_answer_is_shown(server):
    server.plans["example.test"] = HostPlan(error="The email address can't be found.")
    with pytest.raises(AutodiscoverError, match="can't be found"):
        discoverer(server, ["example.test"]).discover()


def test_nothing_answers_lists_every_url_tried(server, caplog):
    caplog.set_level(logging.INFO, logger="eassync.eas.autodiscover")
    with pytest.raises(AutodiscoverError) as err:
        discoverer(server, []).discover()
    text = "\n".join(err.value.details)  # one line per place, printed under the error
    assert "https://example.test/autodiscover/autodiscover.xml" in text
    assert "https://autodiscover.example.test/autodiscover/autodiscover.xml" in text
    assert "_autodiscover._tcp.example.test" in text
    assert "-v" in (err.value.hint or "")
    logged = caplog.text
    assert "http://autodiscover.example.test/autodiscover/autodiscover.xml" in logged
    assert "secret" not in logged


def test_certificate_of_another_ca_is_refused_and_no_password_leaves(server, tmp_path):
    other = make_certs(tmp_path / "other", ["example.test"])
    server.plans["example.test"] = HostPlan(url=EAS_URL, users=USERS)
    ad = discoverer(server, ["example.test"])
    ad.verify = str(other.ca)
    with pytest.raises(AutodiscoverError) as err:
        ad.discover()
    assert "TLS certificate not verified" in err.value.attempts[0].outcome
    assert not [s for s in server.seen if s.host == "example.test"]


def test_verify_false_refuses_autodiscover(server):
    ad = discoverer(server, ["example.test"])
    ad.verify = False
    with pytest.raises(ConfigError, match="verify: false"):
        ad.discover()


def test_plain_http_eas_url_in_answer_is_refused(server):
    server.plans["example.test"] = HostPlan(
        url="http://mail.example.test/Microsoft-Server-ActiveSync"
    )
    with pytest.raises(AutodiscoverError, match="https"):
        discoverer(server, ["example.test"]).discover()


def test_no_parent_domain_fallback(server):
    server.plans["example.test"] = HostPlan(url=EAS_URL)
    with pytest.raises(AutodiscoverError):
        discoverer(server, ["example.test"], email="bob@sub.example.test").discover()
    assert not [s for s in server.seen if s.host == "example.test"]


def test_parse_answer_rejects_entities_and_foreign_documents():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        b"<Autodiscover><Response><Action>&a;</Action></Response></Autodiscover>"
    )
    with pytest.raises(ValueError, match="not XML"):
        parse_answer(bomb)
    with pytest.raises(ValueError, match="root element html"):
        parse_answer(b"<html><body>login</body></html>")


def test_cache_roundtrip_is_private_and_keyed_by_address(tmp_path):
    cache = DiscoveryCache(tmp_path, "work/../x")
    assert cache.load(EMAIL) is None
    cache.save(EMAIL, EAS_URL)
    assert cache.path.parent == tmp_path / "autodiscover"
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600
    assert cache.load(EMAIL.upper()) == EAS_URL
    assert cache.load("bob@example.test") is None
    cache.clear()
    assert cache.load(EMAIL) is None


def test_cache_ignores_non_https(tmp_path: Path):
    cache = DiscoveryCache(tmp_path, "work")
    cache.save(EMAIL, "http://mail.example.test/x")
    assert cache.load(EMAIL) is None
