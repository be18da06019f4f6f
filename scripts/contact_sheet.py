#!/usr/bin/env python3
"""Tile a few clips into one PNG to look at: per clip a row of exo | ego | masks at several frames.

    .venv/bin/python scripts/contact_sheet.py samples/train samples/shift --out outputs/contact_sheet.png

Each clip gives two rows: exo frames over ego frames, each frame followed by its label map
(hand yellow, target object blue) when the clip has masks. The instruction is printed to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from egoexo_models.clip import list_clips, read_clip

LABEL_COLOURS = np.array([[0, 0, 0], [255, 200, 0], [0, 150, 255]], dtype=np.uint8)


def clip_rows(clip_dir: Path, frames: int) -> np.ndarray:
    clip = read_clip(clip_dir)
    picks = np.linspace(0, clip.num_frames - 1, frames).round().astype(int)
    rows = []
    for images, masks in ((clip.exo, clip.exo_masks), (clip.ego, clip.ego_masks)):
        tiles = []
        for i in picks:
            tiles.append(images[i])
            if masks is not None:
                tiles.append(LABEL_COLOURS[masks[i]])
        rows.append(np.concatenate(tiles, axis=1))
    print(f"{clip_dir.name}: {clip.meta.instruction}")
    return np.concatenate(rows, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path, help="clip directories or directories of clips")
    parser.add_argument("--out", type=Path, default=Path("outputs/contact_sheet.png"))
    parser.add_argument("--clips", type=int, default=4, help="clips per root (default 4)")
    parser.add_argument("--frames", type=int, default=4, help="frames per clip (default 4)")
    args = parser.parse_args()
    blocks = []
    for root in args.roots:
        for clip_dir in list_clips(root)[: args.clips]:
            blocks.append(clip_rows(clip_dir, args.frames))
    if not blocks:
        print(f"no clips found under {', '.join(map(str, args.roots))}", file=sys.stderr)
        return 1
    width = max(b.shape[1] for b in blocks)
    padded = [np.pad(b, ((0, 4), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(padded, axis=0)).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
