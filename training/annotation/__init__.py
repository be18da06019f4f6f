"""The HOI annotation pipeline (paper §2.4): per-frame prompters, SAM-2 propagation, best exo view.

    prompts.py      what a prompter returns for a frame, and the contract checks
    generic.py      any user-given ONNX / TorchScript segmenter or detector, described by a YAML spec
    segmenters.py   our own ego and exo HOI segmenters as prompters
    keyframes.py    the re-prompt policy (when SAM-2 gets the prompter's output again)
    sam2_tracker.py SAM-2 propagation of hand and object as separate objects
    best_view.py    the best exo view among several cameras
    annotator.py    one clip, all or nothing, resumable
The command line is training/annotate.py; docs/annotation.md explains the whole pipeline.
"""
