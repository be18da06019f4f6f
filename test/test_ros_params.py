"""Node parameters: config/predict.yaml holds every default, and bad values are refused by name."""

from pathlib import Path

import pytest
import yaml

from egoexo_ros.params import (
    MASK_NODE_PARAMS,
    VIDEO_NODE_PARAMS,
    ParameterError,
    parse_mask_node_config,
    parse_video_node_config,
)

PARAMS_FILE = Path(__file__).resolve().parents[1] / "config" / "predict.yaml"


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def file_values(node: str) -> dict:
    """What rcl gives node `node` from the file's single /** section: the parameters it declares."""
    values = flatten(yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"])
    declared = {spec.name for spec in (MASK_NODE_PARAMS if node == "mask_node" else VIDEO_NODE_PARAMS)}
    return {name: value for name, value in values.items() if name in declared}


def test_the_parameters_file_has_one_section_setting_exactly_the_declared_parameters():
    sections = yaml.safe_load(PARAMS_FILE.read_text())
    values = flatten(sections["/**"]["ros__parameters"])

    assert list(sections) == ["/**"]  # a node section would take precedence over `-p name:=value`
    assert set(values) == {spec.name for spec in MASK_NODE_PARAMS + VIDEO_NODE_PARAMS}


def test_the_parameters_file_is_valid_for_both_nodes():
    mask = parse_mask_node_config(file_values("mask_node"))
    video = parse_video_node_config(file_values("video_node"))

    assert mask.common == video.common
    assert mask.trigger in ("instruction", "continuous")
    assert mask.common.pipeline.weights_dir is None  # empty string: the shipped weights


def test_every_parameter_has_a_description():
    assert all(spec.description for spec in MASK_NODE_PARAMS + VIDEO_NODE_PARAMS)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("steps", 0, r"'steps' = 0 is invalid: expected a value in \[1, 1000\]"),
        ("steps", 2.5, r"'steps' = 2.5 is invalid: expected int"),
        (
            "trigger",
            "sometimes",
            r"'trigger' = 'sometimes' is invalid: expected one of instruction, continuous",
        ),
        (
            "backend",
            "openvino",
            r"'backend' = 'openvino' is invalid: expected one of torch, onnxruntime, tensorrt",
        ),
        ("fallback", ["torch", "jax"], r"'fallback' = \['torch', 'jax'\] is invalid: 'jax' is not one of"),
        ("device", "gpu0", r"'device' = 'gpu0' is invalid: expected cpu, cuda or cuda:N"),
        ("qos.exo.reliability", "maybe", r"'qos.exo.reliability' = 'maybe' is invalid"),
        ("qos.exo.depth", 0, r"'qos.exo.depth' = 0 is invalid"),
        ("max_ego_offset_s", -1.0, r"'max_ego_offset_s' = -1.0 is invalid"),
        ("max_ego_lag_s", 0.05, r"'max_ego_lag_s' = 0.05 is invalid: it must be at least max_ego_offset_s"),
        ("fp16", 1, r"'fp16' = 1 is invalid: expected bool"),
        ("autostart", None, r"'autostart' = None is invalid: it is not set"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_parameter_and_the_fix(name, value, match):
    values = file_values("mask_node")
    values[name] = value

    with pytest.raises(ParameterError, match=match) as error:
        parse_mask_node_config(values)

    assert error.value.name == name
    assert "config/predict.yaml" in str(error.value) and f"-p {name}:=" in str(error.value)


def test_an_unknown_parameter_is_refused():
    values = file_values("video_node") | {"stepz": 4}

    with pytest.raises(ParameterError, match="'stepz' = 4 is invalid: no such parameter"):
        parse_video_node_config(values)


def test_an_integer_is_accepted_for_a_float_parameter():
    values = file_values("mask_node") | {"guidance_scale": 3}

    assert parse_mask_node_config(values).common.pipeline.guidance_scale == 3.0
