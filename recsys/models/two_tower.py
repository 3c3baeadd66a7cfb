"""Two-tower retrieval model in PyTorch, inductive on both sides.

- **Item tower**: content embedding (``features/item_embeddings`` fused vector) plus, for items
  with training interactions, their log popularity and optionally their ALS factors -> MLP +
  linear skip from the content -> L2-normalised ``dim``-d vector. An item nobody interacted with (or a new one)
  gets a vector from its content alone, so cold items are served.
- **User tower**: attention pooling over the tower vectors of the user's items (most recent
  first, up to ``max_history``): a learned importance direction, a recency bias per position and
  a weight on the pair's log strength, then a residual linear map and L2 normalisation. There are no per-user
  parameters: a brand-new user with two clicks is embedded by the same function
  (:meth:`TwoTowerRecommender.embed_user`) without retraining.
- **Score**: cosine of the two vectors (the inner product of unit vectors, so the item vectors go
  straight into an inner-product index).

Objectives (``TwoTowerParams.loss``; training lives in ``two_tower_training``):
- ``softmax`` (default): sampled softmax over in-batch targets plus uniformly sampled items with
  training interactions (``negative_pool``; why not the whole catalog: ``two_tower_training``),
  with the logQ correction for the sampling bias (Yi et al., RecSys 2019);
- ``bpr``: Bayesian personalised ranking against the same negatives (Rendle et al. 2009);
- ``mse``: the original report's rating predictor: a small MLP on the cosine predicts the pair's
  rating, trained with MSE on observed pairs; items are ranked by the predicted rating.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import polars as pl
import torch
from torch import nn
from torch.nn import functional as F

from recsys.index.clustered import ClusteredSearchSettings, InnerProductSearch
from recsys.models.base import Recommender
from recsys.models.matrix import Interactions
from recsys.vectors import vector_matrix
from recsys.models.validation import RankingProbe

log = logging.getLogger(__name__)

LOSSES = ("softmax", "bpr", "mse")
NEGATIVE_POOLS = ("warm", "catalog")
EMBED_BATCH = 4096   # items / users pushed through a tower at once


@dataclass(frozen=True)
class TwoTowerParams:
    dim: int = 128
    hidden: int = 256
    loss: str = "softmax"
    use_als: bool = False         # feed ALS factors of warm items to the item tower (see README: overfits)
    warm_dropout: float = 0.5     # share of candidate items whose warm block is hidden in a training step
    negative_pool: str = "warm"   # uniform negatives from "warm" items (with interactions) or the whole "catalog"
    temperature: float = 0.05
    batch_size: int = 512
    uniform_negatives: int = 512
    bank_refresh_steps: int = 25  # steps between refreshes of the history item vectors (see training)
    max_history: int = 50         # most recent items pooled for a user when serving
    train_history: int = 20       # items sampled from the user's other items per training example
    short_history_rate: float = 0.3   # share of examples whose history is cut to 1-3 items (cold users)
    lr: float = 2e-3
    weight_decay: float = 1e-5
    max_epochs: int = 15
    # A fresh uniform sample of at most this many training examples per epoch (None: every example).
    # Bounds an epoch by time rather than by the size of the event log, so a million users' log
    # does not make one epoch take as long as a whole small build (README, Scale); smaller logs use
    # every example.
    examples_per_epoch: int | None = 2_000_000
    patience: int = 3
    seed: int = 0
    threads: int = 1              # torch threads; small ops gain nothing from a second shared core

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.negative_pool not in NEGATIVE_POOLS:
            raise ValueError(f"negative_pool must be one of {NEGATIVE_POOLS}, got {self.negative_pool!r}")
        if self.examples_per_epoch is not None and self.examples_per_epoch < 1:
            raise ValueError(f"examples_per_epoch must be at least 1 (or None for every example), got {self.examples_per_epoch}")


@dataclass(frozen=True)
class ItemFeatures:
    """Item tower inputs aligned to ``item_ids``: the content vectors, and the warm block
    ``[ALS factors (unit length, optional), has interactions, log1p(train users) / 10]`` that is
    all zeros for an item without training interactions (a cold item looks like a new one)."""

    item_ids: np.ndarray     # (n,) str
    content: np.ndarray      # (n, d_content) float32
    warm: np.ndarray         # (n, d_warm) float32

    @property
    def is_warm(self) -> np.ndarray:
        return self.warm[:, -2] > 0 if self.warm.shape[1] else np.zeros(len(self.item_ids), dtype=bool)

    @classmethod
    def build(cls, embeddings: pl.DataFrame, train: Interactions | None = None,
              als_item_ids: Sequence[str] | None = None, als_factors: np.ndarray | None = None,
              column: str = "fused_vector") -> ItemFeatures:
        """From an item_embeddings frame (product_id + ``column``). ``train`` adds the popularity
        part of the warm block, ``als_item_ids`` + ``als_factors`` its ALS part."""
        item_ids = embeddings["product_id"].to_numpy().astype(object)
        content = np.nan_to_num(vector_matrix(embeddings[column]), nan=0.0)
        if train is None:
            return cls(item_ids, content, np.zeros((len(item_ids), 0), dtype=np.float32))
        rows = {p: i for i, p in enumerate(item_ids.tolist())}
        counts = np.zeros(len(item_ids), dtype=np.float32)
        train_rows = np.array([rows.get(p, -1) for p in train.item_ids.tolist()], dtype=np.int64)
        counts[train_rows[train_rows >= 0]] = train.item_counts()[train_rows >= 0]
        is_warm = (counts > 0).astype(np.float32)
        blocks = [is_warm[:, None], (np.log1p(counts) / 10.0)[:, None]]
        if als_factors is not None:
            factors = np.zeros((len(item_ids), als_factors.shape[1]), dtype=np.float32)
            at = np.array([rows.get(p, -1) for p in als_item_ids], dtype=np.int64)
            unit = als_factors / np.maximum(np.linalg.norm(als_factors, axis=1, keepdims=True), 1e-8)
            factors[at[at >= 0]] = unit[at >= 0]
            blocks.insert(0, factors * is_warm[:, None])
        return cls(item_ids, content, np.concatenate(blocks, axis=1).astype(np.float32))


class ItemTower(nn.Module):
    def __init__(self, content_dim: int, warm_dim: int, hidden: int, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(content_dim + warm_dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.skip = nn.Linear(content_dim, dim, bias=False)

    @property
    def content_dim(self) -> int:
        return self.skip.in_features

    @property
    def warm_dim(self) -> int:
        return self.mlp[0].in_features - self.skip.in_features

    def forward(self, content: torch.Tensor, warm: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(torch.cat([content, warm], dim=1)) + self.skip(content), dim=-1)


class UserTower(nn.Module):
    """Attention pooling over history item vectors (B, L, dim) with mask, recency and strength.

    The attention logit of a history item is ``w . v + recency[position] + s * log1p(strength)``:
    a learned direction of "telling" items, a learned bias per recency position and a weight on
    how strongly the user engaged. The pooled vector passes a residual linear map and is
    normalised. Cheap on purpose: one user is a few small matrix-vector products.
    """

    def __init__(self, dim: int, max_positions: int):
        super().__init__()
        self.importance = nn.Parameter(torch.zeros(dim))
        self.recency = nn.Embedding(max_positions, 1)
        self.strength = nn.Parameter(torch.tensor(0.5))
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.recency.weight)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, items: torch.Tensor, mask: torch.Tensor, log_strength: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(items.shape[1], device=items.device).clamp(max=self.recency.num_embeddings - 1)
        attention = items @ self.importance + self.recency(positions).squeeze(-1) + self.strength * log_strength
        weights = torch.softmax(attention.masked_fill(~mask, float("-inf")), dim=1)
        pooled = torch.bmm(weights.unsqueeze(1), items).squeeze(1)
        return F.normalize(pooled + self.out(pooled), dim=-1)


class RatingHead(nn.Module):
    """The report's predictor: rating = MLP(cosine); monotone only if it learns to be."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, cosine: torch.Tensor) -> torch.Tensor:
        return self.mlp(cosine.unsqueeze(-1)).squeeze(-1)


class TwoTowerNet(nn.Module):
    def __init__(self, content_dim: int, warm_dim: int, params: TwoTowerParams):
        super().__init__()
        self.item_tower = ItemTower(content_dim, warm_dim, params.hidden, params.dim)
        self.user_tower = UserTower(params.dim, max(params.max_history, params.train_history))
        self.rating_head = RatingHead() if params.loss == "mse" else None


def pad_histories(histories: Sequence[np.ndarray], strengths: Sequence[np.ndarray],
                  width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histories (item rows, most recent first) as padded (n, width) index / mask / log-strength arrays."""
    n = len(histories)
    index = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=bool)
    log_strength = np.zeros((n, width), dtype=np.float32)
    for r, (items, strength) in enumerate(zip(histories, strengths)):
        m = min(len(items), width)
        index[r, :m], mask[r, :m], log_strength[r, :m] = items[:m], True, np.log1p(strength[:m])
    return index, mask, log_strength


class TwoTowerRecommender(Recommender):
    name = "two_tower"
    Params = TwoTowerParams
    requires = ("torch", "safetensors")

    def __init__(self, params: TwoTowerParams | None = None):
        super().__init__(params)
        self.net: TwoTowerNet | None = None
        self.item_vectors = np.zeros((0, self.params.dim), dtype=np.float32)
        self.user_vectors = np.zeros((0, self.params.dim), dtype=np.float32)
        self.item_is_warm = np.zeros(0, dtype=bool)

    # --- training ------------------------------------------------------------------------------
    def fit(self, train: Interactions, features: ItemFeatures | None = None,
            probe: RankingProbe | None = None) -> Self:
        """Train on ``train`` (its item ids must equal ``features.item_ids``, i.e. the catalog);
        ``probe`` (validation users and their held-out items) drives early stopping and the curve;
        without it training runs ``max_epochs`` and keeps the epoch with the lowest training loss."""
        from recsys.models.two_tower_training import train_two_tower

        if features is None:
            raise ValueError("the two-tower model needs ItemFeatures (content vectors) to fit")
        if not np.array_equal(train.item_ids, features.item_ids):
            raise ValueError("train.item_ids must be features.item_ids (build Interactions with item_ids=...)")
        torch.manual_seed(self.params.seed)     # the initial weights come from torch's generator
        self.net = TwoTowerNet(features.content.shape[1], features.warm.shape[1], self.params)
        self._set_train(train)
        self.summary = train_two_tower(self, train, features, probe)
        return self

    def refresh_vectors(self, train: Interactions, features: ItemFeatures, users: np.ndarray | None = None) -> None:
        """Recompute every item vector and the training users' vectors with the current weights;
        ``users``: only these rows (the validation probe's, after an epoch), the others keep theirs."""
        self.item_vectors = self.encode_items(features.content, features.warm)
        self.item_is_warm = features.is_warm
        rows = np.arange(train.n_users) if users is None else np.asarray(users, dtype=np.int64)
        histories = [train.history(r, self.params.max_history) for r in rows]
        vectors = self._embed_rows([h for h, _ in histories], [s for _, s in histories])
        if users is None:
            self.user_vectors = vectors
            return
        if self.user_vectors.shape != (train.n_users, self.params.dim):
            self.user_vectors = np.zeros((train.n_users, self.params.dim), dtype=np.float32)
        self.user_vectors[rows] = vectors

    def _eval_mode(self) -> None:
        # eval() walks every submodule; a served model answers thousands of shoppers a second and is
        # already in eval mode (train() and eval() always set the whole tree, so the root's flag tells).
        if self.net.training:
            self.net.eval()

    # --- towers --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_items(self, content: np.ndarray, warm: np.ndarray | None = None) -> np.ndarray:
        """Item tower vectors for content rows (and warm blocks; zeros = cold item)."""
        assert self.net is not None
        self._eval_mode()
        warm = np.zeros((len(content), self.net.item_tower.warm_dim), dtype=np.float32) if warm is None else warm
        out = np.zeros((len(content), self.params.dim), dtype=np.float32)
        for lo in range(0, len(content), EMBED_BATCH):
            rows = slice(lo, lo + EMBED_BATCH)
            out[rows] = self.net.item_tower(torch.from_numpy(np.ascontiguousarray(content[rows])),
                                            torch.from_numpy(np.ascontiguousarray(warm[rows]))).numpy()
        return out

    @torch.no_grad()
    def _embed_rows(self, histories: Sequence[np.ndarray], strengths: Sequence[np.ndarray]) -> np.ndarray:
        """User tower over histories given as item rows (most recent first); empty -> zero vector."""
        assert self.net is not None
        self._eval_mode()
        out = np.zeros((len(histories), self.params.dim), dtype=np.float32)
        vectors = torch.from_numpy(self.item_vectors)
        for lo in range(0, len(histories), EMBED_BATCH):
            index, mask, log_strength = pad_histories(histories[lo:lo + EMBED_BATCH], strengths[lo:lo + EMBED_BATCH],
                                                      self.params.max_history)
            has = mask.any(axis=1)
            if not has.any():
                continue
            users = self.net.user_tower(vectors[torch.from_numpy(index[has])], torch.from_numpy(mask[has]),
                                        torch.from_numpy(log_strength[has]))
            out[lo:lo + len(index)][has] = users.numpy()
        return out

    def embed_user(self, product_ids: Sequence[str], strengths: Sequence[float] | None = None) -> np.ndarray:
        """The ``dim``-d vector of a user who interacted with ``product_ids``, most recent first
        (``strengths``: the pairs' event strengths, ``recsys.models.matrix.EventWeights``; one click
        each by default). Unknown ids are ignored and the first ``max_history`` known ones pooled;
        a history with no known product raises ValueError. This is the one call an app needs to
        serve a brand-new user: no retraining, well under a millisecond on one core."""
        return self.embed_users([product_ids], None if strengths is None else [strengths])[0]

    def embed_users(self, histories: Sequence[Sequence[str]],
                    strengths: Sequence[Sequence[float]] | None = None) -> np.ndarray:
        """:meth:`embed_user` for many users at once: (n, dim)."""
        rows, weights = [], []
        for u, history in enumerate(histories):
            at = self.item_rows(list(history))
            known = at >= 0
            if not known.any():
                raise ValueError(f"none of the products of history {u} is known to the model: {list(history)[:5]}")
            given = np.ones(len(at), np.float32) if strengths is None else np.asarray(strengths[u], np.float32)
            if len(given) != len(at):
                raise ValueError(f"history {u}: {len(at)} products but {len(given)} strengths")
            rows.append(at[known][:self.params.max_history])
            weights.append(given[known][:self.params.max_history])
        return self._embed_rows(rows, weights)

    def recommend_for_history(self, product_ids: Sequence[str], k: int = 20, exclude_seen: bool = True) -> pl.DataFrame:
        """Top ``k`` for a user known only by ``product_ids`` (e.g. a brand-new visitor): rank, product_id, score."""
        (ids, scores), = self.recommend_for_histories([product_ids], [k], exclude_seen)
        return pl.DataFrame({"rank": np.arange(1, len(ids) + 1, dtype=np.int32), "product_id": ids, "score": scores},
                            schema={"rank": pl.Int32, "product_id": pl.String, "score": pl.Float32})

    def recommend_for_histories(self, histories: Sequence[Sequence[str]], ks: Sequence[int],
                                exclude_seen: bool = True,
                                search: InnerProductSearch | None = None) -> list[tuple[list[str], np.ndarray]]:
        """:meth:`recommend_for_history` for several new shoppers at once, ``ks[i]`` products for history
        ``i``: (product ids, float32 scores) each, best first. Without ``search`` every item is scored, one
        matrix product for all of them (a server answering shoppers side by side batches them); with
        ``search`` (:meth:`shopper_search`) only the candidates it returns. A history with no known
        product raises ValueError."""
        users = self.embed_users(histories)
        seen = [self.item_rows(list(h)) if exclude_seen else np.empty(0, np.int64) for h in histories]
        seen = [rows[rows >= 0] for rows in seen]
        if search is None:
            return [self._best_of_all(scores, own_seen, k)
                    for scores, own_seen, k in zip(self._scores_for_vectors(users), seen, ks)]
        scores, rows = search.search(users, max(ks) + max(len(s) for s in seen))
        answers = []
        for row_scores, row_items, own_seen, k in zip(scores, rows, seen, ks):
            keep = (row_items >= 0) & ~np.isin(row_items, own_seen)
            answers.append((self.item_ids[row_items[keep][:k]].tolist(), row_scores[keep][:k].astype(np.float32)))
        return answers

    def _best_of_all(self, scores: np.ndarray, seen: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
        scores[seen] = -np.inf
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        return self.item_ids[top].tolist(), scores[top].astype(np.float32)

    def shopper_search(self, settings: ClusteredSearchSettings = ClusteredSearchSettings()) -> InnerProductSearch | None:
        """A clustered search over the item vectors for :meth:`recommend_for_histories`, tuned on the
        training users' vectors; None where scores are not the cosine itself (a learned rating head
        need not keep the cosine's order, so only scoring every item is right)."""
        if self.params.loss == "mse":
            return None
        return InnerProductSearch.build(self.item_vectors, self.user_vectors, settings)

    # --- scoring -------------------------------------------------------------------------------
    @torch.no_grad()
    def _rating(self, cosine: np.ndarray) -> np.ndarray:
        assert self.net is not None and self.net.rating_head is not None
        self._eval_mode()
        return self.net.rating_head(torch.from_numpy(np.ascontiguousarray(cosine, dtype=np.float32))).numpy()

    def _scores_for_vectors(self, users: np.ndarray) -> np.ndarray:
        cosine = users @ self.item_vectors.T
        return self._rating(cosine) if self.params.loss == "mse" else cosine

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        return self._scores_for_vectors(self.user_vectors[rows])

    def _pair_scores(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        cosine = np.einsum("ij,ij->i", self.user_vectors[user_rows], self.item_vectors[item_rows])
        return self._rating(cosine) if self.params.loss == "mse" else cosine

    # --- persistence ---------------------------------------------------------------------------
    def _user_columns(self) -> dict[str, np.ndarray]:
        return {"vector": self.user_vectors}

    def _item_columns(self) -> dict[str, np.ndarray]:
        return {"vector": self.item_vectors, "warm": self.item_is_warm}

    def _save_extra(self, folder: Path) -> None:
        from safetensors.torch import save_file

        assert self.net is not None
        shapes = {"content_dim": self.net.item_tower.content_dim, "warm_dim": self.net.item_tower.warm_dim}
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(folder / "weights.safetensors"),
                  metadata={k: str(v) for k, v in shapes.items()})

    def _load_state(self, folder: Path, users: pl.DataFrame, items: pl.DataFrame) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(folder / "weights.safetensors"), framework="pt") as fh:
            shapes = {k: int(v) for k, v in fh.metadata().items()}
        self.net = TwoTowerNet(shapes["content_dim"], shapes["warm_dim"], self.params)
        self.net.load_state_dict(load_file(str(folder / "weights.safetensors")))
        self.net.eval()
        self.user_vectors = vector_matrix(users["vector"]).copy()     # writable: torch reads it in place
        self.item_vectors = vector_matrix(items["vector"]).copy()
        self.item_is_warm = items["warm"].to_numpy().astype(bool)
