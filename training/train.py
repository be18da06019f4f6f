"""Train one stage: python training/train.py --config config/train/<name>.yaml [key=value ...]

The YAML's `stage:` names the trainer module training/trainers/<stage>.py, whose
`train(config, config_path)` runs the stage. Overrides use dotted keys (optim.lr=3e-4).
Multi-process: torchrun --nproc_per_node N training/train.py --config ...
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = REPO_ROOT / "training"

if __name__ in ("__main__", "__mp_main__"):  # __mp_main__: the same script in a spawned worker
    # Run as a script, sys.path[0] is training/: import its modules only as training.*, from this
    # checkout, so no module is loaded twice under two names.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != TRAINING_DIR]
    sys.path.insert(0, str(REPO_ROOT))


def known_stages() -> list[str]:
    """Names of the trainer modules in training/trainers/."""
    import training.trainers

    return sorted(
        m.name for m in pkgutil.iter_modules(training.trainers.__path__) if not m.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="training YAML with a `stage:` key")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override config values (dotted keys)"
    )
    args = parser.parse_args(argv)

    from training.common.config import ConfigError, load_config

    try:
        config = load_config(args.config, args.overrides)
        stage = config.get("stage")
        stages = known_stages()
        if not isinstance(stage, str) or stage not in stages:
            raise ConfigError(
                f"{args.config}: stage {stage!r} is not a known training stage; known stages: {stages} "
                "(set `stage:` in the YAML to one of them)"
            )
        trainer = importlib.import_module(f"training.trainers.{stage}")
        trainer.train(config, args.config)
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
