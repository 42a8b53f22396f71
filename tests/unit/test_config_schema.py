"""The JSON Schema itself: valid, shipped identically, strict, documented."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from eassync.configschema import load_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "config.schema.json"
PACKAGED_FILE = ROOT / "eassync" / "schemas" / "config.schema.json"


def object_schemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema that declares ``properties``, with a JSON pointer."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield where, node
        for key, value in node.items():
            yield from object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from object_schemas(value, f"{where}/{i}")


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and "description" not in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_packaged_copy_is_identical() -> None:
    assert PACKAGED_FILE.read_bytes() == SCHEMA_FILE.read_bytes()
    assert load_schema() == json.loads(SCHEMA_FILE.read_text("utf-8"))


def test_every_object_rejects_unknown_keys() -> None:
    schema = load_schema()
    found = list(object_schemas(schema))
    assert len(found) > 10
    for where, node in found:
        if where.endswith("/if"):
            continue  # an `if` only tests a value, it does not define an object
        assert node.get("additionalProperties") is False, where


def test_every_key_has_a_description() -> None:
    schema = load_schema()
    for where, node in object_schemas(schema):
        if where.endswith("/if") or where == "#/$defs/storage":
            continue  # the storage union only lists keys; each type's schema describes them
        for key, prop in node["properties"].items():
            if prop is True or where.endswith("/then"):
                continue
            assert "description" in resolve(schema, prop), f"{where}/properties/{key}"


@pytest.mark.parametrize("name", ["general", "account", "dav_storage", "pair"])
def test_defaults_satisfy_their_own_schema(name: str) -> None:
    schema = load_schema()
    section = schema["properties"]["general"] if name == "general" else schema["$defs"][name]
    for prop in section["properties"].values():
        prop = resolve(schema, prop)
        if "default" in prop:
            sub = {"$defs": schema["$defs"], **prop}
            jsonschema.validate(prop["default"], sub, cls=jsonschema.Draft202012Validator)
