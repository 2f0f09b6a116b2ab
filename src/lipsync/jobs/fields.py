"""The option dataclasses as plain data: form text in, JSON out, JSON Schema for documents.

The web API's form fields, the job store's stored options and the OpenAPI schema all come from
the fields of ``SyncOptions`` (their names, types, defaults and ``metadata["help"]``), as the
CLI's flags do (``cli/options.py``), so a new option appears everywhere without a list to edit.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from ..errors import OptionsError
from ..options import strip_optional

FieldKind = Literal["bool", "int", "float", "str", "choice", "int_tuple"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class OptionField:
    """One option: its ``name`` (form field and JSON key), value ``kind``, whether it may be
    null (``optional``), allowed ``choices``, tuple ``length``, ``default`` and ``help``."""

    name: str
    kind: FieldKind
    optional: bool
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    length: int = 0


def option_fields(cls: type) -> tuple[OptionField, ...]:
    """Describe every field of the dataclass ``cls`` (e.g. SyncOptions), in declaration order."""
    hints = typing.get_type_hints(cls)
    described = []
    for f in dataclasses.fields(cls):
        annotation, optional = strip_optional(hints[f.name])
        choices: tuple[str, ...] = ()
        length = 0
        kind: FieldKind
        if annotation is bool:
            kind = "bool"
        elif annotation is int:
            kind = "int"
        elif annotation is float:
            kind = "float"
        elif get_origin(annotation) is Literal:
            kind, choices = "choice", tuple(str(a) for a in get_args(annotation))
        elif get_origin(annotation) is tuple:
            kind, length = "int_tuple", len(get_args(annotation))
        else:
            kind = "str"
        default = _json_value(f.default) if f.default is not dataclasses.MISSING else None
        described.append(
            OptionField(
                f.name, kind, optional, default, f.metadata.get("help", ""), choices, length
            )
        )
    return tuple(described)


def parse_field_text(field: OptionField, text: str) -> Any:
    """Convert one form value to the field's Python value; raise OptionsError naming it.

    Booleans: true/false, 1/0, yes/no, on/off. Tuples: comma- or space-separated integers.
    An empty string means null for an optional field.
    """
    text = text.strip()
    if text == "" and field.optional:
        return None
    try:
        if field.kind == "bool":
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if field.kind == "int":
            return int(text)
        if field.kind == "float":
            return float(text)
        if field.kind == "choice":
            if text not in field.choices:
                raise OptionsError(
                    f"{field.name} must be one of {', '.join(field.choices)}; got {text!r}"
                )
            return text
        if field.kind == "int_tuple":
            parts = [p for p in text.replace(",", " ").split() if p]
            if len(parts) != field.length:
                raise ValueError
            return tuple(int(p) for p in parts)
    except ValueError:
        raise OptionsError(f"{field.name} {_expected(field)}; got {text!r}") from None
    return text


def options_from_form(cls: type, form: Mapping[str, str]) -> Any:
    """Build ``cls`` from text values keyed by field name (absent fields keep their defaults).

    Unknown keys are refused, so a misspelt option is an error rather than silently ignored.
    """
    fields = {f.name: f for f in option_fields(cls)}
    unknown = sorted(set(form) - set(fields))
    if unknown:
        raise OptionsError(
            f"unknown option {unknown[0]!r}; known options: {', '.join(sorted(fields))}"
        )
    values = {name: parse_field_text(fields[name], text) for name, text in form.items()}
    return cls(**values)


def options_to_json(options: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass instance (tuples become lists)."""
    return {f.name: _json_value(getattr(options, f.name)) for f in dataclasses.fields(options)}


def options_from_json(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild ``cls`` from ``options_to_json`` output; keys it no longer has are dropped, so
    jobs stored by an older version still load."""
    fields = {f.name: f for f in option_fields(cls)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            continue
        if field.kind == "int_tuple" and value is not None:
            value = tuple(int(v) for v in value)
        values[name] = value
    return cls(**values)


def json_schema(cls: type) -> dict[str, Any]:
    """A JSON Schema object for ``cls`` as JSON (the stored and reported options)."""
    properties = {f.name: _field_schema(f, as_form=False) for f in option_fields(cls)}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def form_schema(cls: type) -> dict[str, Any]:
    """A JSON Schema object for ``cls`` as multipart form text (what the API accepts)."""
    properties = {f.name: _field_schema(f, as_form=True) for f in option_fields(cls)}
    return {"type": "object", "properties": properties}


def _field_schema(field: OptionField, as_form: bool) -> dict[str, Any]:
    schema: dict[str, Any]
    if field.kind == "bool":
        schema = {"type": "boolean"}
    elif field.kind == "int":
        schema = {"type": "integer"}
    elif field.kind == "float":
        schema = {"type": "number"}
    elif field.kind == "choice":
        schema = {"type": "string", "enum": list(field.choices)}
    elif field.kind == "int_tuple":
        if as_form:
            schema = {"type": "string", "pattern": _tuple_pattern(field.length)}
        else:
            schema = {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": field.length,
                "maxItems": field.length,
            }
    else:
        schema = {"type": "string"}
    if field.optional and not as_form:
        schema = {**schema, "type": [schema["type"], "null"]}
    schema["description"] = field.help
    default = field.default
    if as_form and isinstance(default, list):
        default = ",".join(str(v) for v in default)
    if default is not None or not as_form:
        schema["default"] = default
    return schema


def _tuple_pattern(length: int) -> str:
    number = r"-?\d+"
    return rf"^\s*{number}(\s*[, ]\s*{number}){{{length - 1}}}\s*$"


def _expected(field: OptionField) -> str:
    return {
        "bool": "must be true or false",
        "int": "must be an integer",
        "float": "must be a number",
        "int_tuple": f"needs {field.length} comma-separated integers",
    }.get(field.kind, "is malformed")


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
