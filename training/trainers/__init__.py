"""Trainers: one module per training stage, run by `python training/train.py --config FILE`.

A stage module `training/trainers/<stage>.py` defines

    def train(config: dict, config_path: pathlib.Path) -> None

where `config` is the whole YAML mapping after `key=value` overrides (its `stage:` names the
module). The trainer validates its own section into a frozen dataclass (training.common.
config_from_dict), writes its loop top to bottom, checkpoints every `checkpoint_every` steps with
training.common.CheckpointManager, resumes automatically from its run directory, and exports the
final weights with egoexo_models.weights.save_weights.
"""
