"""``eassync watch``: stay up and sync live.

- ``pinger.py``: one EAS Ping loop per account, in its own thread and HTTP session,
  posting what the server reported (changed folders, hierarchy change, trouble).
- ``local.py``: file watching of vdir folders (watchdog, debounced) and the cheap
  "does this pair have local changes?" check also used to poll DAV sync tokens.
- ``daemon.py``: the one thread that syncs (through ``eassync.runner.sync_pair``,
  under the same per-pair lock as ``eassync sync``), schedules, and handles signals.
"""
