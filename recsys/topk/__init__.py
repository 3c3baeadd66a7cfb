"""Batch top-K over item vectors, in blocks, with per-query exclusions (self, already-owned items)."""

from recsys.topk.blocked import (
    ExactSearch,
    DEFAULT_K,
    Exclusions,
    SearchFn,
    TopK,
    blocked_topk,
    prior_search,
    best_k_candidates,
)
from recsys.topk.exact import DeduplicatedSearch, exact_search

__all__ = ["DEFAULT_K", "DeduplicatedSearch", "ExactSearch", "Exclusions", "SearchFn", "TopK", "blocked_topk", "exact_search", "prior_search", "best_k_candidates"]
