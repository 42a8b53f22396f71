"""YAML with positions, and JSON Schema validation that reports ``FILE:LINE:COL``.

PyYAML's safe loader forgets where a value came from and lets a duplicate key
silently win. We compose the node tree ourselves, build plain dicts/lists/scalars,
and remember the position of every key and value by its path, so that each schema
problem can be reported as ``config.yaml:12:5: pairs.p.conflict: <what was expected>``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

from eassync.errors import ConfigError
from eassync.wording import count

#: a path into the document: mapping keys and list indexes
JsonPath = tuple[str | int, ...]


@cache
def load_schema() -> dict[str, Any]:
    """The config JSON Schema shipped inside the package (a copy of schemas/config.schema.json)."""
    text = resources.files("eassync").joinpath("schemas/config.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def format_path(path: Iterable[str | int]) -> str:
    """``("pairs", "p", "conflict")`` → ``pairs.p.conflict``; list indexes as ``[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass
class Positions:
    """Where each node of a YAML document is: 1-based (line, column) by path."""

    filename: str
    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: JsonPath) -> tuple[int, int]:
        """The position to report for ``path``: its key when it is a mapping entry
        (the line a person looks for), else the value; else the nearest ancestor."""
        path = tuple(path)
        while path:
            if path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def where(self, path: JsonPath) -> str:
        line, col = self.of(path)
        return f"{self.filename}:{line}:{col}: {format_path(path)}"

    def line(self, path: JsonPath) -> int:
        return self.of(path)[0]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns a composed YAML node tree into plain values, recording positions."""

    def __init__(self, filename: str) -> None:
        self.positions = Positions(filename)
        self.problems: list[str] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.positions.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[Any, Any]:
        own = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
        merged = [(k, v) for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in own:
            key = self._constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                line, col = _mark(key_node)
                self.problems.append(
                    f"{self.positions.filename}:{line}:{col}: {format_path(path)}: "
                    f"a key must be a plain word, not {type(key).__name__}"
                )
                continue
            if isinstance(key_node, yaml.ScalarNode):
                # a key is a name as written: YAML 1.1 would read a pair or storage
                # named on/off/yes/no as a boolean and 1.0 as a float
                key = key_node.value
            if key in result:
                line, col = _mark(key_node)
                self.problems.append(
                    f"{self.positions.filename}:{line}:{col}: {format_path((*path, key))}: "
                    f"duplicate key {key!r} (first at line {first_line[key]}, again at line {line})"
                )
                continue
            first_line[key] = _mark(key_node)[0]
            self.positions.keys[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        # YAML merge keys (<<: *base): the mapping's own keys win over merged ones.
        for _, source in merged:
            sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
            for src in sources:
                if isinstance(src, yaml.MappingNode):
                    for key, value in self._mapping(src, path).items():
                        result.setdefault(key, value)
        return result


def _yaml_problem(exc: yaml.MarkedYAMLError, filename: str) -> str:
    """One line: ``file:line:col`` where the problem *starts*, then PyYAML's own
    words with their "in line N, column M". An unclosed quote or bracket is found
    where the file or the next key begins (its problem mark); the context mark is
    where it opened. A block mapping's context mark is where the whole mapping
    starts, so there the problem mark (a bad indentation) is the place."""

    def at(mark: Any) -> str:
        return f" in line {mark.line + 1}, column {mark.column + 1}" if mark else ""

    parts = []
    if exc.context:
        parts.append(f"{exc.context}{at(exc.context_mark)}")
    if exc.problem:
        parts.append(f"{exc.problem}{at(exc.problem_mark)}")
    opened = exc.context or ""
    unclosed = opened.startswith(("while scanning", "while parsing a flow"))
    mark = exc.context_mark if unclosed and exc.context_mark else exc.problem_mark
    where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
    return f"{where}: {': '.join(parts)}"


def load_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one YAML document; return plain values and their positions.

    Raises ConfigError for a syntax error or duplicate keys (all duplicates at once).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        problem = _yaml_problem(exc, filename)
        raise ConfigError(f"{filename}: not valid YAML", problems=[problem]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}: not valid YAML", problems=[f"{filename}: {exc}"]) from None
    builder = _Builder(filename)
    data = None if node is None else builder.build(node, ())
    if builder.problems:
        raise ConfigError(f"{filename}: invalid config", problems=builder.problems)
    return data, builder.positions


# --- schema errors → one readable line each --------------------------------------------

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "nothing (null)",
}


def _describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _choices(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def _instance_path(error: ValidationError) -> JsonPath:
    path: JsonPath = tuple(error.absolute_path)
    # propertyNames errors point at the object; the culprit is the key itself.
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        path = (*path, error.instance)
    return path


def _message(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    expected = schema.get("x-expected")
    value = error.instance
    kind = error.validator
    if kind in ("oneOf", "anyOf"):
        if expected:
            return f"{_describe_value(value)} is not {expected}"
        best = jsonschema.exceptions.best_match(error.context or [])
        return _message(best) if best is not None else error.message
    if expected and kind in ("pattern", "type", "enum", "const", "minLength", "maxLength"):
        return f"{_describe_value(value)} is not {expected}"
    if kind == "type":
        types = error.validator_value
        types = [types] if isinstance(types, str) else list(types)
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        quote = ""
        if isinstance(value, bool) and "string" in types:
            quote = " (YAML reads yes/no/on/off unquoted as booleans: quote the name)"
        return f"expected {wanted}, got {_describe_value(value)}{quote}"
    if kind == "enum":
        return f"{_describe_value(value)} is not one of {_choices(error.validator_value)}"
    if kind == "const":
        return f"{_describe_value(value)} is not {error.validator_value!r}"
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        hint = schema.get("x-hint")
        return f"missing required key {missing!r}" + (f" ({hint})" if hint else "")
    if kind == "minimum":
        return f"{_describe_value(value)} is below the minimum {error.validator_value}"
    if kind == "maximum":
        return f"{_describe_value(value)} is above the maximum {error.validator_value}"
    if kind == "exclusiveMinimum":
        return f"{_describe_value(value)} must be more than {error.validator_value}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "minItems":
        return f"needs at least {count(int(error.validator_value))}"
    if kind == "pattern":
        return f"{_describe_value(value)} does not match {error.validator_value}"
    return str(error.message)


_SHAPE_VALIDATORS = ("type", "required", "enum", "const", "additionalProperties")


def _explain(error: ValidationError) -> tuple[JsonPath, str]:
    """The path and text to report for one error.

    For a choice (oneOf/anyOf) where exactly one branch has the value's shape (say
    ``{command: 3}`` against "a word or {command: [...]}"), that branch's own deeper
    error is the useful one: ``conflict.command: expected a list``.
    """
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [
            errs
            for errs in branches.values()
            if not any(
                e.validator in _SHAPE_VALIDATORS and e.absolute_path == error.absolute_path
                for e in errs
            )
        ]
        if len(fitting) == 1:
            best = jsonschema.exceptions.best_match(fitting[0])
            if best is not None:
                return _explain(best)
    return _instance_path(error), _message(error)


def _unknown_keys(error: ValidationError) -> list[tuple[JsonPath, str]]:
    """One report per unknown key, suggesting the closest allowed key."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = sorted(schema.get("properties", {}))
    patterns = schema.get("patternProperties", {})
    out = []
    for key in error.instance:
        if key in allowed or any(re.search(p, str(key)) for p in patterns):
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {_choices(allowed)}"
        out.append(((*error.absolute_path, key), f"unknown key {key!r}; {hint}"))
    return out


def validate(data: Any, positions: Positions) -> list[str]:
    """Every schema problem of ``data``, as ``FILE:LINE:COL: path: message`` lines in
    document order."""
    validator = jsonschema.Draft202012Validator(load_schema())
    found: dict[tuple[JsonPath, str], tuple[int, str]] = {}
    unknown: dict[JsonPath, tuple[int, str]] = {}
    for error in validator.iter_errors(data):
        depth = len(error.absolute_schema_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            for path, text in _unknown_keys(error):
                # The same stray key can be caught by a type-specific branch (e.g. the
                # vdir keys) and by the union of all keys; the deeper branch knows best.
                if path not in unknown or unknown[path][0] < depth:
                    unknown[path] = (depth, text)
            continue
        path, text = _explain(error)
        found.setdefault((path, text), (depth, text))
    lines: list[tuple[tuple[int, int], str]] = []
    for path, (_, text) in unknown.items():
        lines.append((positions.of(path), f"{positions.where(path)}: {text}"))
    for (path, _), (_, text) in found.items():
        if any(path[: len(p)] == p for p in unknown):
            continue  # inside an unknown key: its contents do not matter
        lines.append((positions.of(path), f"{positions.where(path)}: {text}"))
    lines.sort(key=lambda pair: pair[0])
    return [text for _, text in lines]


def defaults(def_name: str) -> dict[str, Any]:
    """The ``default`` of every property of ``$defs/<def_name>`` (or the top-level
    ``general`` when def_name is "general"): the schema is the one source of defaults."""
    root = load_schema()
    schema = root["properties"]["general"] if def_name == "general" else root["$defs"][def_name]
    out: dict[str, Any] = {}
    for key, prop in schema.get("properties", {}).items():
        if isinstance(prop, dict):
            if "$ref" in prop and "default" not in prop:
                prop = _resolve(root, prop["$ref"])
            if "default" in prop:
                out[key] = prop["default"]
    return out
