"""When to compute in bfloat16: only where the hardware has bfloat16 arithmetic.

On CPUs with AMX or AVX512-BF16 (and on GPUs) bfloat16 autocast runs matrix products faster
with float32 accumulation, and MiniLM's sentence vectors stay as good as float32's
(benchmarks/design_measurements.md). Elsewhere bfloat16 is emulated and slower than float32, so
"auto" means float32.
"""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "bf16", "fp32")


def bf16_is_fast(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision == "bf16" or (precision == "auto" and bf16_is_fast(device))
