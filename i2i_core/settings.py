"""The settings tree: every hyper-parameter of a recipe by dotted key, and the parsing of values.

``cycle.weight``, ``nets.G_AB.ngf``, ``optim.lr``, ``optim.D.lr_mult``, ``data.batch_size``,
``phase.G.every``, ``state.pool_A.size``: what ``--set``, presets and ``config.json`` read and
write. Values from the command line are strings, parsed as JSON and coerced to the type of the
setting they replace; ``--add`` specs (``"patchnce:weight=2,temperature=0.1"``) are parsed here too.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import attrs

from .errors import ConfigError, message
from .loss import LossPlugin, settable_fields


def settings_of(recipe) -> dict[str, Any]:
    """Every settable hyper-parameter by dotted key, with its current value."""
    out = {}
    for name, spec in recipe.nets.items():
        out[f"nets.{name}.kind"] = spec.kind
        out[f"nets.{name}.init"] = spec.init
        out[f"nets.{name}.init_gain"] = spec.init_gain
        for key, value in spec.kwargs.items():
            out[f"nets.{name}.{key}"] = value
    for instance, plugin in recipe.plugins.items():
        for key, value in settable_fields(plugin).items():
            out[f"{instance}.{key}"] = value
    for key, value in settable_fields(recipe.optim).items():
        out[f"optim.{key}"] = value
    for name, spec in recipe.optimizers.items():
        for key, value in settable_fields(spec).items():
            if key != "modules":
                out[f"optim.{name}.{key}"] = value
    for prefix, obj in (("schedule", recipe.schedule), ("data", recipe.data)):
        for key, value in settable_fields(obj).items():
            out[f"{prefix}.{key}"] = value
    for phase in recipe.phases:
        out[f"phase.{phase.name}.every"] = phase.every
    for name, obj in recipe.state.items():
        for key, value in settable_fields(obj).items():
            out[f"state.{name}.{key}"] = value
    return out

def apply_setting(recipe, key: str, raw) -> None:
    """Set one dotted key; ``raw`` may be a string from the command line or a Python value."""
    current = settings_of(recipe)
    if key not in current:
        near = [k for k in current if k.split(".")[0] == key.split(".")[0]] or sorted(current)
        raise ConfigError(f"unknown setting {key!r} for recipe {recipe.name!r}; valid keys: {', '.join(near)}")
    value = coerce(raw, current[key], key)
    head, _, rest = key.partition(".")
    try:
        if head == "nets":
            name, field = rest.split(".", 1)
            spec = recipe.nets[name]
            if field in ("kind", "init", "init_gain"):
                setattr(spec, field, value)
            else:
                spec.kwargs[field] = value
        elif head == "optim" and "." in rest:
            name, field = rest.split(".", 1)
            setattr(recipe.optimizers[name], field, value)
        elif head == "phase":
            name, field = rest.split(".", 1)
            setattr(recipe.phase(name), field, value)
        elif head == "state":
            name, field = rest.split(".", 1)
            setattr(recipe.state[name], field, value)
        elif head in ("optim", "schedule", "data"):
            setattr(getattr(recipe, head), rest, value)
        else:
            setattr(recipe.plugins[head], rest, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value {raw!r} for {key}: {message(exc)}") from exc


def resolved(recipe) -> dict:
    """JSON-ready settings (what ``config.json`` records)."""
    return {key: jsonable(value) for key, value in settings_of(recipe).items()}


def jsonable(value):
    if isinstance(value, tuple):
        return [jsonable(x) for x in value]
    if isinstance(value, dict):
        return {k: jsonable(x) for k, x in value.items()}
    return value


def coerce(raw, current, key: str = "value"):
    """Turn a command-line string (or a JSON value) into the type of the current setting."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(current, str) and not isinstance(value, str):
            value = raw
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} expects true or false, got {raw!r}")
    if isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} expects an integer, got {raw!r}")
    if isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(f"{key} expects a number, got {raw!r}")
    if isinstance(current, (tuple, list)):
        bracketed = isinstance(value, str) and value.lstrip().startswith("[")
        if bracketed:  # a list the shell stripped of its quotes
            value = _bare_words(value)
        if isinstance(value, list):
            return tuple(value)
        if isinstance(value, str) and not bracketed and all(isinstance(x, str) for x in current):
            return (value,)  # a single name for a list of names
        example = json.dumps(jsonable(current)) if current else '["NAME"]'  # the field's own shape
        raise ConfigError(f"{key} expects a JSON list such as {example}, got {raw!r}")
    if isinstance(current, str) and not isinstance(value, str):
        raise ConfigError(f"{key} expects a string, got {raw!r}")
    return value


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\[\],\s"]+')  # a JSON string, or a word between brackets and commas


def _bare_words(text: str):
    """``[down1_conv,res1]``, a JSON list whose quotes the shell stripped, as ``["down1_conv",
    "res1"]``: every word that is no JSON value becomes a string (nested lists too). The text
    unchanged when it still is no list."""
    def quoted(match):
        word = match.group()
        try:
            json.loads(word)
            return word
        except json.JSONDecodeError:
            return json.dumps(word)
    try:
        value = json.loads(_TOKEN.sub(quoted, text))
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, list) else text


def parse_add(spec: str) -> tuple[str, dict]:
    """``"patchnce:weight=2,temperature=0.1"`` → ("patchnce", {"weight": "2", "temperature": "0.1"})."""
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, _split_top_level(rest)):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--add {spec!r}: expected KEY=VALUE after the plugin name, got {item!r}")
        kwargs[key.strip()] = value.strip()
    return name.strip(), kwargs


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, so JSON lists can be values."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def make_plugin(cls, kwargs: dict) -> LossPlugin:
    """Instantiate a plugin from string or typed keyword arguments, coerced to each field's default type."""
    defaults = {f.name: f.default for f in attrs.fields(cls)}
    typed = {}
    for key, raw in kwargs.items():
        if key not in defaults:
            raise ConfigError(f"plugin {cls.name!r} has no setting {key!r}; valid: {', '.join(defaults)}")
        default = defaults[key]
        default = default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[attr-defined]
        default = None if default is attrs.NOTHING else default
        typed[key] = coerce(raw, default, f"{cls.name}.{key}")
    try:
        return cls(**typed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"plugin {cls.name!r}: {message(exc)}") from exc
