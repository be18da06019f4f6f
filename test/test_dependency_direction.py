"""The dependency direction is training -> egoexo_models <- egoexo_ros, checked on the source."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_top_level_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def sources(package: str, exclude: str | None = None) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    return [f for f in files if exclude is None or exclude not in f.relative_to(ROOT).parts]


@pytest.mark.parametrize(
    "path", sources("egoexo_models", exclude="cli"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_egoexo_models_imports_neither_ros_nor_training(path):
    forbidden = imported_top_level_modules(path) & {
        "rclpy",
        "training",
        "egoexo_ros",
        "sensor_msgs",
        "std_msgs",
    }
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", sources("egoexo_ros"), ids=lambda p: str(p.relative_to(ROOT)))
def test_egoexo_ros_never_imports_training(path):
    assert "training" not in imported_top_level_modules(path), f"{path.relative_to(ROOT)} imports training"


def test_the_cli_imports_training_and_ros_only_inside_functions():
    """`egoexo --help` must not pull in rclpy, mujoco or torch-heavy training code."""
    for path in sources("egoexo_models/cli"):
        tree = ast.parse(path.read_text())
        top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = set()
        for node in top_level:
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif node.module:
                names.add(node.module.split(".")[0])
        assert not names & {"rclpy", "training", "egoexo_ros", "mujoco", "torch"}, path.name
