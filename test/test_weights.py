"""Weights directories: config.json + model.safetensors, strict loading, clear errors."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

from egoexo_models.weights import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ConfigError,
    WeightsError,
    config_from_dict,
    load_state_strict,
    load_weights,
    save_weights,
    shipped_weights_dir,
    weights_id,
)


@dataclass(frozen=True)
class TinyBlockConfig:
    channels: tuple[int, ...] = (4, 8)
    norm: str = "group"


@dataclass(frozen=True)
class TinyConfig:
    in_channels: int
    scale: float = 1.0
    block: TinyBlockConfig = field(default_factory=TinyBlockConfig)
    init_path: Path | None = None


def tiny_net(config: TinyConfig) -> nn.Module:
    return nn.Sequential(nn.Conv2d(config.in_channels, 4, 3), nn.BatchNorm2d(4))


@pytest.fixture
def saved(tmp_path):
    config = TinyConfig(in_channels=3, scale=0.5, init_path=Path("/some/file.pt"))
    torch.manual_seed(0)
    net = tiny_net(config)
    directory = save_weights(
        tmp_path / "tiny", kind="tiny", config=config, state_dict=net.state_dict(), metadata={"steps": 7}
    )
    return directory, config, net


def test_save_then_load_gives_back_the_config_and_identical_tensors(saved):
    directory, config, net = saved
    loaded_config, state = load_weights(directory, kind="tiny", config_cls=TinyConfig)
    assert loaded_config == config
    assert loaded_config.block.channels == (4, 8)  # lists in JSON come back as tuples
    for key, value in net.state_dict().items():
        assert torch.equal(state[key], value)
    document = json.loads((directory / CONFIG_FILE).read_text())
    assert (
        document["kind"] == "tiny"
        and document["format_version"] == 1
        and document["metadata"] == {"steps": 7}
    )


def test_save_leaves_no_temporary_files(saved):
    directory, _, _ = saved
    assert sorted(p.name for p in directory.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_loading_weights_of_another_kind_is_an_error(saved):
    directory, _, _ = saved
    with pytest.raises(WeightsError, match="holds 'tiny' weights, expected 'vae'"):
        load_weights(directory, kind="vae", config_cls=TinyConfig)


def test_another_format_version_is_an_error(saved):
    directory, _, _ = saved
    document = json.loads((directory / CONFIG_FILE).read_text())
    document["format_version"] = 2
    (directory / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(WeightsError, match="format_version 2"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


def test_unknown_and_missing_config_keys_are_named(saved):
    directory, _, _ = saved
    document = json.loads((directory / CONFIG_FILE).read_text())
    document["config"]["bogus"] = 1
    (directory / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['bogus'\]"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)
    del document["config"]["bogus"], document["config"]["in_channels"]
    (directory / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['in_channels'\]"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


def test_a_config_json_from_other_weights_is_detected(saved, tmp_path):
    directory, _, net = saved
    other = save_weights(
        tmp_path / "other", kind="tiny", config=TinyConfig(in_channels=3), state_dict=net.state_dict()
    )
    (directory / CONFIG_FILE).write_bytes((other / CONFIG_FILE).read_bytes())
    with pytest.raises(WeightsError, match=r"does not belong to model\.safetensors"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


@pytest.mark.parametrize("victim", [CONFIG_FILE, WEIGHTS_FILE])
def test_missing_files_are_named(saved, victim):
    directory, _, _ = saved
    (directory / victim).unlink()
    with pytest.raises(WeightsError, match=f"{victim}: missing"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


def test_a_truncated_safetensors_file_is_reported_as_corrupt(saved):
    directory, _, _ = saved
    data = (directory / WEIGHTS_FILE).read_bytes()
    (directory / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="corrupt"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


def test_a_corrupt_config_json_is_reported(saved):
    directory, _, _ = saved
    (directory / CONFIG_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="corrupt, not valid JSON"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


def test_a_missing_directory_is_reported(tmp_path):
    with pytest.raises(WeightsError, match="no such weights directory"):
        load_weights(tmp_path / "nowhere", kind="tiny", config_cls=TinyConfig)


def test_weights_holding_nan_are_rejected(tmp_path):
    state = {"w": torch.tensor([1.0, float("nan")])}
    directory = save_weights(
        tmp_path / "nan", kind="tiny", config=TinyConfig(in_channels=1), state_dict=state
    )
    with pytest.raises(WeightsError, match=r"NaN or inf: \['w'\]"):
        load_weights(directory, kind="tiny", config_cls=TinyConfig)


def test_load_state_strict_names_missing_unexpected_and_mismatched_keys():
    net = tiny_net(TinyConfig(in_channels=3))
    state = dict(net.state_dict())
    state.pop("1.running_mean")
    state["extra.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(4, 2, 3, 3)
    with pytest.raises(WeightsError) as error:
        load_state_strict(net, state, source="unit test")
    message = str(error.value)
    assert "unit test" in message
    assert "missing key(s): ['1.running_mean']" in message
    assert "unexpected key(s): ['extra.weight']" in message
    assert "0.weight: file (4, 2, 3, 3) vs model (4, 3, 3, 3)" in message


def test_load_state_strict_loads_a_fitting_state():
    torch.manual_seed(1)
    source, target = tiny_net(TinyConfig(in_channels=3)), tiny_net(TinyConfig(in_channels=3))
    load_state_strict(target, source.state_dict(), source="unit test")
    assert torch.equal(target[0].weight, source[0].weight)


def test_weights_id_is_the_kind_and_a_content_hash(saved, tmp_path):
    directory, config, net = saved
    ident = weights_id(directory)
    kind, digest = ident.split(":")
    assert kind == "tiny" and len(digest) == 8 and int(digest, 16) >= 0
    with torch.no_grad():
        net[0].weight.add_(1.0)
    changed = save_weights(tmp_path / "changed", kind="tiny", config=config, state_dict=net.state_dict())
    assert weights_id(changed) != ident


def test_config_from_dict_checks_types_and_names_the_place():
    with pytest.raises(ConfigError, match=r"train.yaml: model.in_channels: expected an integer, got 'three'"):
        config_from_dict(TinyConfig, {"in_channels": "three"}, "train.yaml: model")
    with pytest.raises(ConfigError, match=r"model.block.channels\[1\]: expected an integer"):
        config_from_dict(TinyConfig, {"in_channels": 1, "block": {"channels": [1, 2.5]}}, "model")


def test_config_from_dict_accepts_yaml_spellings_of_floats():
    assert config_from_dict(TinyConfig, {"in_channels": 1, "scale": "1e-4"}, "model").scale == 1e-4
    assert config_from_dict(TinyConfig, {"in_channels": 1, "scale": 2}, "model").scale == 2.0


def test_shipped_weights_dir_is_inside_the_package_and_rejects_paths():
    assert shipped_weights_dir("maskpred").parts[-3:] == ("egoexo_models", "weights", "maskpred")
    with pytest.raises(ValueError, match="plain folder name"):
        shipped_weights_dir("../etc")
