"""make_loader: a DataLoader over a ClipDataset that reports skipped bad clips instead of dying."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from training.data.dataset import ClipDataset

log = logging.getLogger("egoexo.data")


class SkipReportingLoader:
    """Iterates a DataLoader's batches; counts the bad clips the dataset skipped and reports them per pass.

    `skipped` counts the reads of bad clips replaced so far over all passes; `bad_clips` names the clips.
    """

    def __init__(self, loader: DataLoader, sampler) -> None:
        self.loader, self.sampler = loader, sampler
        self.epoch = 0
        self.skipped = 0
        self.bad_clips: set[str] = set()

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        skipped_this_pass = 0
        for batch in self.loader:
            count = int(batch["skipped"].sum())
            if count:
                skipped_this_pass += count
                self.bad_clips.update(
                    name for names in batch["skipped_clips"] for name in names.split(",") if name
                )
            yield batch
        self.skipped += skipped_this_pass
        self.epoch += 1
        if skipped_this_pass:
            log.warning(
                "pass %d: skipped %d read(s) of bad clips; %d bad clip(s) so far: %s",
                self.epoch,
                skipped_this_pass,
                len(self.bad_clips),
                ", ".join(sorted(self.bad_clips)),
            )


def make_loader(
    dataset: ClipDataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    distributed: bool = False,
    *,
    seed: int = 0,
    drop_last: bool = False,
) -> SkipReportingLoader:
    """Batches of `dataset` items (see ClipDataset for the keys), skipping bad clips with a report.

    distributed=True shards the clips over the ranks of the initialised process group
    (DistributedSampler, reshuffled every pass). Worker processes use spawn-safe defaults.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if distributed:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            raise ValueError("distributed=True needs an initialised torch.distributed process group")
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(dataset)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
    )
    return SkipReportingLoader(loader, sampler)
