"""What a failed TLS handshake means, in words a person can act on.

OpenSSL reports an ``https://`` URL pointed at a plain-HTTP port as
``WRONG_VERSION_NUMBER`` (the HTTP answer read as a TLS record): that is "this port
does not speak TLS", not a certificate a private CA would fix. Only a verification
failure is a certificate problem.
"""

from __future__ import annotations

import ssl

from eassync.net.reason import chain

#: OpenSSL reasons for bytes that are not a TLS record at all (OpenSSL 1.1 to 3.x)
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)
_NOT_TLS_WORDS = ("wrong version number", "record layer failure", "packet length too long")

NOT_TLS = "not_tls"
CERTIFICATE = "certificate"
HANDSHAKE = "handshake"


def tls_failure_kind(exc: BaseException) -> str:
    """:data:`NOT_TLS`, :data:`CERTIFICATE` or :data:`HANDSHAKE` (anything else)."""
    for cause in chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return CERTIFICATE
        if isinstance(cause, ssl.SSLError) and cause.reason in _NOT_TLS_REASONS:
            return NOT_TLS
    text = str(exc).lower()
    if any(words in text for words in _NOT_TLS_WORDS):
        return NOT_TLS
    if "certificate verify failed" in text:
        return CERTIFICATE
    return HANDSHAKE


def not_tls_message(where: str) -> str:
    """``where``: "host:port"."""
    return f"{where} does not speak TLS (an https:// URL pointed at a plain-HTTP port?)"


def not_tls_hint(key: str = "url") -> str:
    return (
        f"use the server's HTTPS port in `{key}` (usually 443), or http:// if that port "
        "really is plain HTTP (test servers only: the password travels unencrypted)"
    )
