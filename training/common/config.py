"""Training configuration: a YAML file plus `key=value` overrides, validated by each trainer.

`load_config` gives a plain dict; each trainer turns its own section into its frozen dataclass
with `config_from_dict`, which names unknown, missing and mistyped keys.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from egoexo_models.weights import ConfigError, atomic_write_bytes, config_from_dict, config_to_dict

__all__ = [
    "ConfigError",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "parse_override",
    "save_config",
]


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Read the YAML mapping at `path` and apply overrides such as `optim.lr=3e-4` or `steps=10`.

    Override values are parsed as YAML (`true`, `[64, 64]`, `null`); a dotted key creates missing
    intermediate sections. Raises ConfigError naming the file or the override that is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(config).__name__}")
    for override in overrides:
        key, value = parse_override(override)
        _set_dotted(config, key, value, override)
    return config


def parse_override(text: str) -> tuple[str, Any]:
    """`"a.b=3"` -> ("a.b", 3). The value is YAML; a number PyYAML leaves as a string (1e-4) becomes a float."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part.isidentifier() for part in key.split(".")):
        raise ConfigError(f"override {text!r}: expected key=value with a dotted key such as optim.lr=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({error})") from None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                value = number
    return key, value


def _set_dotted(config: dict[str, Any], key: str, value: Any, override: str) -> None:
    node = config
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"override {override!r}: {where} is {child!r}, not a section")
        node = child
    node[parts[-1]] = value


def save_config(path: str | os.PathLike, config: dict[str, Any]) -> None:
    """Write the resolved config (after overrides) as YAML, e.g. to RUN_DIR/config.yaml."""
    atomic_write_bytes(Path(path), yaml.safe_dump(config, sort_keys=False).encode())
