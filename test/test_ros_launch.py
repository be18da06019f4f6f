"""launch/predict.launch.py (no `launch` here to run it): it compiles, and what it passes exists."""

import ast
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import yaml

from egoexo_ros.params import MASK_NODE_PARAMS, VIDEO_NODE_PARAMS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "predict.launch.py"


def launch_constant(name: str):
    """The literal value assigned to module-level `name` in the launch file."""
    tree = ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {LAUNCH_FILE}")


def test_the_launch_file_compiles_and_defines_generate_launch_description():
    code = compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), "exec")
    assert "generate_launch_description" in code.co_names


def test_every_parameter_launch_argument_is_a_parameter_of_the_parameters_file():
    file_parameters = set(
        yaml.safe_load((ROOT / "config" / "predict.yaml").read_text())["/**"]["ros__parameters"]
    )
    declared = {spec.name for spec in MASK_NODE_PARAMS + VIDEO_NODE_PARAMS}

    arguments = set(launch_constant("PARAMETER_ARGUMENTS"))

    assert arguments <= file_parameters & declared


def test_every_remapped_topic_is_a_topic_the_nodes_use():
    sources = (ROOT / "egoexo_ros" / "mask_node.py").read_text() + (
        ROOT / "egoexo_ros" / "video_node.py"
    ).read_text()

    for _, topic, _, _ in launch_constant("TOPIC_ARGUMENTS"):
        assert f'"{topic}"' in sources, topic


def test_the_node_executables_exist_and_are_installed():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for name in ("mask_node", "video_node"):
        script = ROOT / "scripts" / name
        assert os.access(script, os.X_OK), f"{script} is not executable"
        compile(script.read_text(), str(script), "exec")
        assert f"scripts/{name}" in cmake


def test_the_fastdds_profile_gives_a_16_mb_shared_memory_segment_without_builtin_transports():
    namespace = {"dds": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ElementTree.parse(ROOT / "config" / "fastdds_large_images.xml").getroot()

    assert root.find(".//dds:segment_size", namespace).text == str(16 * 1024 * 1024)
    assert root.find(".//dds:useBuiltinTransports", namespace).text == "false"
