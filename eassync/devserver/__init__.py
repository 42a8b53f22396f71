"""A small, protocol-faithful Exchange ActiveSync server for the demo, tests and benchmarks.

It shares only the WBXML layer (``eassync.eas.wbxml``, ``eassync.eas.element``) with
the client. See ``server.DevServer`` for the Python API and ``eassync devserver``.
"""

from __future__ import annotations

from eassync.devserver.server import DevServer
from eassync.devserver.store import Folder

__all__ = ["DevServer", "Folder"]
