"""Scripted hostile servers on loopback, for tests that ask "what if someone hostile
answers?".

- :class:`HostileServer` (``server.py``): an HTTP server on 127.0.0.1 (or any loopback
  address, optionally TLS) whose answers a test scripts with :meth:`~HostileServer.on`:
  a fixed :class:`Answer`, a :func:`redirect`, an EAS :func:`moved` (HTTP 451 with
  ``X-MS-Location``), a :class:`Dribble` (bytes one at a time, slowly), a
  :class:`Bomb` (a small gzip answer that inflates to gigabytes), an :func:`html_page`,
  or any callable ``Seen -> Reply``. Every request is kept in ``server.seen``.
- :class:`DribblingRelay`: a TCP relay that passes a server's bytes on one at a time,
  below TLS, so even the handshake dribbles.
- :class:`CredentialTrap`: a HostileServer on the *second* loopback address,
  127.0.0.2, standing for "some other host". It answers 401 with a Basic challenge
  to every request (tempting a client to log in) and records what arrives; a test
  points a redirect or a discovered URL at it and asserts ``trap.credentials == []``.

Usage::

    with HostileServer() as srv, CredentialTrap() as trap:
        srv.on(redirect(trap.url("/dav/")), method="PROPFIND")
        ... run the client against srv.url("/dav/") ...
        assert trap.credentials == []

The servers run in daemon threads, stop in ``__exit__`` even while a dribble is
still going, and never touch the network beyond loopback.
"""

from tests.hostile.server import (
    Answer,
    Bomb,
    CredentialTrap,
    Dribble,
    DribblingRelay,
    HostileServer,
    Reply,
    Seen,
    html_page,
    moved,
    redirect,
)

__all__ = [
    "Answer",
    "Bomb",
    "CredentialTrap",
    "Dribble",
    "DribblingRelay",
    "HostileServer",
    "Reply",
    "Seen",
    "html_page",
    "moved",
    "redirect",
]
