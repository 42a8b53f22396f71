"""The shared vocabulary of eassync: what every layer may speak and nothing of ours
is imported by.

- :mod:`~eassync.model.items`: items, local changes, remote changes and pushes, and the
  two storage interfaces (the glossary lives there);
- :mod:`~eassync.model.handler`: what the engine needs of a content handler;
- :mod:`~eassync.model.knowledge`: which fields a server folder keeps;
- :mod:`~eassync.model.folder`: a server folder as plain data.

Layer rules (``[tool.importlinter]`` in pyproject.toml) keep this package a leaf.
"""
