"""Model weights on disk: a directory with `config.json` and `model.safetensors`, never pickles.

    DIR/config.json          {"kind": str, "format_version": 1, "config": {...}, "metadata": {...}}
    DIR/model.safetensors    the state dict; its header records the SHA-256 of config.json

`save_weights` writes each file to a temporary name, fsyncs and renames it, so a reader sees whole
files only; the hash in the safetensors header lets `load_weights` detect a config.json that does
not belong to the weights (an interrupted save, or files copied from two models).
`load_weights` rebuilds the frozen config dataclass with `config_from_dict`, which rejects unknown
and missing keys by name; `load_state_strict` loads a state dict, naming missing, unexpected and
shape-mismatched keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_CONFIG_HASH_KEY = "config_sha256"
SHIPPED_WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration does not match its dataclass: unknown, missing or mistyped keys."""


class WeightsError(ValueError):
    """A weights directory is missing, corrupt, of another kind or version, or does not fit the model."""


# ------------------------------------------------------------------------------- config dataclasses


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """Build the (frozen) dataclass `cls` from a plain dict, as read from YAML or JSON.

    Unknown and missing keys raise ConfigError naming them and `where` (e.g. "config/train/x.yaml:
    model"). Values are checked against the field types: lists become tuples for tuple fields,
    ints are accepted for float fields, and nested dataclasses are built recursively. Strings that
    spell a number (PyYAML reads `1e-4` as a string) are accepted for float fields.
    """
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"config_from_dict needs a dataclass type, got {cls!r}")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} for {cls.__name__}; known keys: {sorted(fields)}"
        )
    required = {
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in data.items()}
    return cls(**values)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against the type `hint` and convert JSON/YAML spellings (list -> tuple, ...)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"{where}: {value!r} fits none of {hint}: {'; '.join(errors)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
        if not args:
            return tuple(value)
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        if not args:
            return dict(value)
        return {_coerce(k, args[0], where): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        return _as_float(value, where)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return Path(value)
    raise TypeError(f"{where}: config_from_dict does not support fields of type {hint!r}")


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a number, got {value!r}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as a JSON-ready dict (tuples become lists, paths strings)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a config dataclass instance, got {config!r}")
    return json.loads(json.dumps(dataclasses.asdict(config), default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a config value of type {type(value).__name__} cannot be written as JSON: {value!r}")


# ------------------------------------------------------------------------------- atomic files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling, fsync'd and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename inside `directory` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (temporary sibling, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def cpu_tensors(state_dict: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies (safetensors refuses views and shared storage)."""
    tensors = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{where}: {key!r} is a {type(value).__name__}, not a tensor")
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
    return tensors


# ------------------------------------------------------------------------------- weights directories


def save_weights(
    directory: str | os.PathLike,
    *,
    kind: str,
    config: Any,
    state_dict: Mapping[str, torch.Tensor],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write `config.json` and `model.safetensors` into `directory` (created if needed); returns it.

    Args:
        kind: what model this is ("maskpred", "exo_segmenter", "vae", ...); checked on load.
        config: the model's frozen config dataclass.
        state_dict: name -> tensor, e.g. `module.state_dict()`.
        metadata: JSON-ready extras (training command, steps, data ...), stored in config.json.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")
    directory = Path(directory)
    document = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "config": config_to_dict(config),
        "metadata": metadata or {},
    }
    try:
        config_bytes = (json.dumps(document, indent=1, sort_keys=False) + "\n").encode()
    except TypeError as error:
        raise ValueError(f"metadata for {kind!r} must be JSON-serialisable: {error}") from None
    tensors = cpu_tensors(state_dict, f"state_dict for {kind!r}")
    header = {_CONFIG_HASH_KEY: hashlib.sha256(config_bytes).hexdigest(), "kind": kind}
    save_tensors_atomic(directory / WEIGHTS_FILE, tensors, header)
    atomic_write_bytes(directory / CONFIG_FILE, config_bytes)
    return directory


def read_weights_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed config.json of a weights directory, checked for its required keys."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise WeightsError(
            f"{directory}: no such weights directory (expected {CONFIG_FILE} and {WEIGHTS_FILE})"
        )
    try:
        raw = path.read_bytes()
        document = json.loads(raw)
    except FileNotFoundError:
        raise WeightsError(
            f"{path}: missing; a weights directory needs {CONFIG_FILE} beside {WEIGHTS_FILE}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightsError(f"{path}: corrupt, not valid JSON ({error})") from None
    if not isinstance(document, dict) or not {"kind", "format_version", "config"} <= set(document):
        raise WeightsError(f"{path}: expected an object with 'kind', 'format_version' and 'config'")
    return document


def load_weights(
    directory: str | os.PathLike, *, kind: str, config_cls: type[T]
) -> tuple[T, dict[str, torch.Tensor]]:
    """Read a weights directory written by `save_weights`: (config dataclass, CPU state dict).

    Raises:
        WeightsError: the directory or a file is missing or corrupt, the kind or format version
            differs, the config does not belong to the weights, or a tensor holds NaN/inf.
        ConfigError: config.json does not fit `config_cls` (unknown or missing keys are named).
    """
    directory = Path(directory)
    document = read_weights_config(directory)
    config_path = directory / CONFIG_FILE
    if document["kind"] != kind:
        raise WeightsError(f"{directory}: holds {document['kind']!r} weights, expected {kind!r}")
    if document["format_version"] != FORMAT_VERSION:
        raise WeightsError(
            f"{config_path}: format_version {document['format_version']!r}, this code reads {FORMAT_VERSION}; "
            "re-export the weights with this version of egoexo"
        )
    config = config_from_dict(config_cls, document["config"], f"{config_path}: config")
    weights_path = directory / WEIGHTS_FILE
    header, state_dict = _read_safetensors(weights_path)
    expected_hash = header.get(_CONFIG_HASH_KEY)
    actual_hash = hashlib.sha256(config_path.read_bytes()).hexdigest()
    if expected_hash != actual_hash:
        raise WeightsError(
            f"{directory}: {CONFIG_FILE} does not belong to {WEIGHTS_FILE} (interrupted save or files mixed "
            "from two models); save the weights again"
        )
    bad = [
        key
        for key, value in state_dict.items()
        if value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if bad:
        raise WeightsError(f"{weights_path}: tensors hold NaN or inf: {bad[:10]}")
    return config, state_dict


def _read_safetensors(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not path.is_file():
        raise WeightsError(f"{path}: missing; a weights directory needs {WEIGHTS_FILE} beside {CONFIG_FILE}")
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise WeightsError(f"{path}: corrupt or not a safetensors file ({error})") from None
    return header, tensors


def load_state_strict(
    module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str
) -> None:
    """Load `state_dict` into `module`, raising WeightsError naming every missing, unexpected and
    shape-mismatched key (`source` says where the weights came from)."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = sorted(
        f"{key}: file {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in set(expected) & set(state_dict)
        if tuple(state_dict[key].shape) != tuple(expected[key].shape)
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched)):
        if keys:
            more = f" (+{len(keys) - 10} more)" if len(keys) > 10 else ""
            problems.append(f"{len(keys)} {label} key(s): {keys[:10]}{more}")
    if problems:
        raise WeightsError(
            f"{source}: weights do not fit {type(module).__name__}: {'; '.join(problems)}. "
            "Are the weights from another model version or configuration?"
        )
    module.load_state_dict(state_dict, strict=True)


def weights_id(directory: str | os.PathLike) -> str:
    """A short id of a weights directory: "<kind>:<first 8 hex digits of SHA-256 of model.safetensors>"."""
    directory = Path(directory)
    kind = read_weights_config(directory)["kind"]
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: missing; a weights directory needs {WEIGHTS_FILE} beside {CONFIG_FILE}")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{kind}:{digest.hexdigest()[:8]}"


def shipped_weights_dir(name: str) -> Path:
    """egoexo_models/weights/<name>/: where the shipped sim-trained model `name` lives."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"a shipped model name is a plain folder name such as 'maskpred', got {name!r}")
    return SHIPPED_WEIGHTS_ROOT / name
