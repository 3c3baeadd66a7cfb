"""Torch's intra-op thread count, set for a block of model work and restored after it.

torch sizes its pool to the machine's cores. On a shared 2-core machine a second worker thread
mostly waits for a core, and small batched work (top-k of a score block, the towers' small
matrices) runs several times slower with two threads than with one. So such work runs on one
thread; callers that know better pass their own (0: every CPU the process may use).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from recsys.cpu_limit import resolve_threads


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """``threads`` torch threads inside the block; 0: every CPU this process may use (recsys.cpu_limit)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
