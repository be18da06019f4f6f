"""DDP through torchrun: two CPU processes on gloo average gradients, stay identical, and only
rank 0 writes checkpoints and logs."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training.common import DistInfo, all_reduce_mean, init_distributed, wrap_ddp

ROOT = Path(__file__).resolve().parents[1]
PORT_RACES = ("Address already in use", "EADDRINUSE", "Connection refused")

DDP_WORKER = """
import copy, json, sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from torch import nn
from training.common import (
    CheckpointManager, TrainLogger, all_reduce_mean, cleanup_distributed, init_distributed, wrap_ddp,
)

out = Path(sys.argv[1])
torch.set_num_threads(1)
dist = init_distributed("cpu")
torch.manual_seed(100 + dist.rank)  # a different init per rank: DDP must start from rank 0's
model = wrap_ddp(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)), dist)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
run_dir = out / f"run_rank{dist.rank}"  # one run dir per rank, to see who writes
checkpoints = CheckpointManager(run_dir, keep=2)
grad_errors, losses, saved = [], [], []
with TrainLogger(run_dir, dist, total_steps=3) as log:
    for step in range(1, 4):
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1000 * step + dist.rank))
        plain = copy.deepcopy(model.module)  # the same weights, without DDP
        plain_loss = plain(x).pow(2).mean()
        plain_loss.backward()
        loss = model(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        for p_ddp, p_plain in zip(model.parameters(), plain.parameters(), strict=True):
            grad_errors.append((p_ddp.grad - all_reduce_mean(p_plain.grad, dist)).abs().max().item())
        optimizer.step()
        mean_loss = all_reduce_mean(loss, dist).item()
        losses.append([loss.item(), mean_loss])
        log.log(step, {"loss": mean_loss})
        saved.append(str(checkpoints.save(step, {"model": model}, {"optim": optimizer})))
save_file({k: v.contiguous() for k, v in model.module.state_dict().items()}, out / f"params_rank{dist.rank}.safetensors")
result = {"rank": dist.rank, "world_size": dist.world_size, "is_main": dist.is_main, "backend": torch.distributed.get_backend(),
          "grad_errors": grad_errors, "losses": losses, "saved": saved}
(out / f"result_rank{dist.rank}.json").write_text(json.dumps(result))
cleanup_distributed()
"""


def run_process_group(command: list[str], env: dict[str, str], timeout_s: float = 180.0):
    """Run torchrun in a session of its own; on a timeout kill the whole group (workers included)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_two_gloo_processes_average_gradients_stay_identical_and_only_rank0_writes(tmp_path):
    script = tmp_path / "ddp_worker.py"
    script.write_text(DDP_WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [str(script), str(tmp_path)]
    result = run_process_group(command, env)
    if result.returncode != 0 and any(marker in result.stderr for marker in PORT_RACES):
        # torchrun picks a free port and binds it later; on a busy machine another process can take
        # it in between. That race is outside the code under test: try once more.
        result = run_process_group(command, env)
    assert result.returncode == 0, result.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"result_rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["is_main"], r["backend"]) for r in ranks] == [
        (0, 2, True, "gloo"),
        (1, 2, False, "gloo"),
    ]
    # DDP's gradient is the mean of the two processes' gradients.
    for rank in ranks:
        assert max(rank["grad_errors"]) < 1e-6
    # Each rank saw other data, and all_reduce_mean gave both the same mean.
    for (loss0, mean0), (loss1, mean1) in zip(ranks[0]["losses"], ranks[1]["losses"], strict=True):
        assert loss0 != loss1
        assert mean0 == pytest.approx(mean1) == pytest.approx((loss0 + loss1) / 2)
    # Parameters are identical across ranks after training (despite different initialisations).
    params = [load_file(tmp_path / f"params_rank{r}.safetensors") for r in (0, 1)]
    for key in params[0]:
        assert torch.equal(params[0][key], params[1][key]), key
    # Only rank 0 wrote checkpoints, TensorBoard and metrics.
    assert ranks[1]["saved"] == ["None"] * 3
    assert not (tmp_path / "run_rank1").exists()
    run0 = tmp_path / "run_rank0"
    assert sorted(p.name for p in (run0 / "checkpoints").iterdir()) == [
        "step_000000002.safetensors",
        "step_000000003.safetensors",
    ]
    assert (run0 / "metrics.jsonl").is_file() and list((run0 / "tensorboard").iterdir())


def test_without_torchrun_variables_the_run_is_a_single_main_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    dist = init_distributed("cpu")
    assert dist == DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), is_main=True)
    model = torch.nn.Linear(2, 2)
    assert wrap_ddp(model, dist) is model
    value = torch.tensor([1.0, 3.0])
    assert torch.equal(all_reduce_mean(value, dist), value)


def test_a_partial_torchrun_environment_is_an_error_saying_to_use_torchrun(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="start the run with torchrun"):
        init_distributed("cpu")


def test_a_non_integer_rank_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        init_distributed("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error(monkeypatch):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        init_distributed("cuda")
