"""Candidate generation, hybrid re-ranking and reasons: generic over signals (vectors, priors)."""

from recsys.recommend.candidates import (CandidateSource, Candidates, RankedProposals, candidates_with_proposals,
                                         generate_candidates, unique_per_row)
from recsys.recommend.history import History, build_history
from recsys.recommend.hybrid import HYBRID_MODEL, Ranked, pair_score_table, rerank
from recsys.recommend.signals import ItemPriorSignal, Signal, VectorSignal

__all__ = ["CandidateSource", "Candidates", "RankedProposals", "candidates_with_proposals", "generate_candidates", "unique_per_row",
           "History", "build_history",
           "HYBRID_MODEL", "Ranked", "pair_score_table", "rerank", "ItemPriorSignal", "Signal", "VectorSignal"]
