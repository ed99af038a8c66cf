"""Settings declared once: a dataclass field with its default, its help and its rules.

``Config`` (training) and ``serving.batching.BatchingOptions`` are frozen dataclasses of
such fields. ``check`` applies the rules when one is made, so Python callers and the
command line (whose flags ``commands/flags.py`` generates from the same fields) refuse a
bad value with the same sentence. No TensorFlow here: ``--help`` reads these.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mnist_convnet.errors import UserError

MANUAL_DIR_ENV = "MNIST_MANUAL_DIR"  # the folder of MNIST's four files, for offline runs


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    resume_must_match: bool = False,
    flag: bool = True,
) -> Any:
    """A field: its default, the help its flag shows, and the rules it obeys.

    ``resume_must_match`` (training only) marks the run's fingerprint: a checkpoint written
    under other values of such fields is refused. ``flag=False``: no command-line flag.
    """
    metadata = {
        "help": help,
        "choices": choices,
        "at_least": at_least,
        "above": above,
        "below": below,
        "resume_must_match": resume_must_match,
        "flag": flag,
    }
    return dataclasses.field(default=default, metadata=metadata)


def field_type(field: dataclasses.Field) -> type:
    """bool, int, float or str: the field's type, read from its annotation ("int | None")."""
    return {"bool": bool, "int": int, "float": float, "str": str}[field.type.split("|")[0].strip()]


def check(settings: Any) -> None:
    """Every field's rules, on a frozen dataclass being made; an int given for a float field
    becomes that float (``learning_rate=1`` is the run ``--learning_rate=1`` makes)."""
    for field in dataclasses.fields(settings):
        if "help" not in field.metadata:
            continue  # a plain field (ServerOptions.batching): not a setting of its own
        value = getattr(settings, field.name)
        if field_type(field) is float and type(value) is int:
            object.__setattr__(settings, field.name, float(value))
        check_value(field, getattr(settings, field.name))


def check_value(field: dataclasses.Field, value: Any) -> None:
    """One field's rules; the message names the field as both the API and the CLI spell it."""
    rules, name = field.metadata, field.name
    if value is None and field.default is None:
        return
    kind = field_type(field)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UserError(f"{name} must be {kind.__name__}, not {value!r}")
    if rules["choices"] is not None and value not in rules["choices"]:
        raise UserError(f"{name} must be one of {', '.join(rules['choices'])}, not {value!r}")
    if rules["at_least"] is not None and value < rules["at_least"]:
        raise UserError(f"{name} must be at least {rules['at_least']}, not {value}")
    if rules["above"] is not None and not value > rules["above"]:
        raise UserError(f"{name} must be greater than {rules['above']}, not {value}")
    if rules["below"] is not None and not value < rules["below"]:
        raise UserError(f"{name} must be less than {rules['below']}, not {value}")
