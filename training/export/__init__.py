"""Export of the trained models to ONNX (and TensorRT engines where TensorRT exists), with parity checks.

maskpred.py exports the mask predictor's step graph and the HOI segmenters; diffusion.py (when
present) the video diffusion models. `egoexo export` runs both.
"""
