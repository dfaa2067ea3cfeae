"""What every torch model shares, importable without torch: the optimiser's space, precisions."""

from __future__ import annotations

from typing import Literal, get_args

from merbench.space import FloatDistribution

TORCH_SEARCH_SPACE_KEYS = ("lr", "weight_decay")

Precision = Literal["fp32", "bf16"]
"""Arithmetic of torch forward passes: float32, or bfloat16 autocast (weights stay float32)."""
PRECISIONS: tuple[str, ...] = get_args(Precision)


def torch_search_space() -> dict[str, FloatDistribution]:
    """Learning rate and weight decay of AdamW, log-uniform."""
    return {
        "lr": FloatDistribution(1e-4, 3e-3, log=True),
        "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    }
