"""Dagster configs take their defaults from the core dataclasses they configure, so each default is
written once, in ``recsys/``: ``dim: int = field_default(TwoTowerParams, "dim")``, and the config
builds the dataclass with ``from_config(TwoTowerParams, self)``."""

import inspect
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

import dagster as dg

T = TypeVar("T")


def field_default(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (a fresh copy when it has a factory)."""
    for field in fields(cls):
        if field.name == name:
            if field.default is not MISSING:
                return field.default
            if field.default_factory is not MISSING:
                return field.default_factory()
            raise ValueError(f"{cls.__name__}.{name} has no default")
    raise AttributeError(f"{cls.__name__} has no field {name!r}")


def parameter_default(function: Callable, name: str) -> Any:
    """The default of keyword parameter ``name`` of ``function`` (for stages configured by arguments)."""
    default = inspect.signature(function).parameters[name].default
    if default is inspect.Parameter.empty:
        raise ValueError(f"{function.__name__}({name}) has no default")
    return default


def from_config(cls: type[T], config: dg.Config, **values: Any) -> T:
    """Dataclass ``cls`` with every field the config also has taken from the config (``values`` win);
    the fields the config leaves out keep their defaults."""
    taken = {field.name: getattr(config, field.name) for field in fields(cls)
             if field.name in type(config).model_fields}
    return cls(**{**taken, **values})
