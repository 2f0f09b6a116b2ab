"""Click options derived from the option dataclasses, so every name is spelled once.

``SyncOptions.face_batch_size`` becomes ``--face-batch-size``; its help text is the field's
``metadata["help"]``; booleans that default to True get a ``--no-…`` form.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

import click

from ..errors import OptionsError
from ..options import strip_optional

F = Callable[..., Any]


def _parse_int_list(text: str, count: int, name: str) -> tuple[int, ...]:
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        values = tuple(int(float(p)) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise OptionsError(f"{name} needs {count} comma-separated integers, got {text!r}")
    return values


def _click_option(f: dataclasses.Field[Any], hints: dict[str, Any]) -> Callable[[F], F]:
    flag = "--" + f.name.replace("_", "-")
    help_text = f.metadata.get("help", "")
    annotation, optional = strip_optional(hints[f.name])
    default = f.default
    if annotation is bool:
        if default:
            return click.option(f"{flag}/--no-{flag[2:]}", f.name, default=True, help=help_text)
        return click.option(flag, f.name, is_flag=True, default=False, help=help_text)
    if get_origin(annotation) is typing.Literal:
        return click.option(
            flag,
            f.name,
            type=click.Choice(get_args(annotation)),
            default=default,
            show_default=True,
            help=help_text,
        )
    if get_origin(annotation) is tuple:
        count = len(get_args(annotation))
        if optional:  # e.g. --box 10,20,200,220
            return click.option(flag, f.name, type=str, default=None, help=help_text)
        # e.g. --pads 0 10 0 0, as in the reference
        return click.option(
            flag, f.name, type=int, nargs=count, default=default, show_default=True, help=help_text
        )
    kind = {int: int, float: float, str: str}.get(annotation, str)
    return click.option(
        flag, f.name, type=kind, default=default, show_default=default is not None, help=help_text
    )


def dataclass_options(cls: type) -> Callable[[F], F]:
    """Decorator adding one click option per field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)

    def decorate(func: F) -> F:
        for f in reversed(fields):
            func = _click_option(f, hints)(func)
        return func

    return decorate


def build_dataclass(cls: type, values: dict[str, Any]) -> Any:
    """Build ``cls`` from click's parsed values (only its own fields are taken)."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        annotation, optional = strip_optional(hints[f.name])
        if optional and get_origin(annotation) is tuple and isinstance(value, str):
            value = _parse_int_list(
                value, len(get_args(annotation)), "--" + f.name.replace("_", "-")
            )
        kwargs[f.name] = value
    return cls(**kwargs)
