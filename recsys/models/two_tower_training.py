"""Training loop of the two-tower model: examples, negatives, losses, early stopping.

An example is one training pair (user, target item) whose user has at least one other item: the
history is a random subset (up to ``train_history``, kept most recent first) of the user's
*other* training items, and for ``short_history_rate`` of the examples it is cut to 1-3 items so
the user tower learns to serve users who have barely started.

Cost control (2 shared CPU cores): history items are read from a *bank* of item tower vectors
computed without gradient for every item with training interactions and refreshed every
``bank_refresh_steps`` steps (a slightly stale copy of the same tower, as in momentum-encoder
training), so each step pushes only the batch's targets and negatives through the item tower
with gradient. The user tower learns from the bank; the item tower learns from the candidate
side. For ``warm_dropout`` of the candidate items the warm block (ALS factors, popularity) is
zeroed so the tower also learns to place items from their content alone, as it must for cold
items.

After every epoch the model ranks the catalog for a fixed sample of validation users
(``RankingProbe``); training stops when recall@k has not improved for ``patience`` epochs and
the best epoch's weights are restored. Seeds: the initial weights (torch) and every sampling
decision (numpy) derive from ``params.seed``.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from recsys.models.matrix import Interactions
from recsys.models.threads import torch_threads
from recsys.models.validation import RankingProbe

if TYPE_CHECKING:
    from recsys.models.two_tower import ItemFeatures, TwoTowerRecommender

log = logging.getLogger(__name__)


class ExampleSampler:
    """Training pairs of users with >= 2 items, and their sampled histories."""

    def __init__(self, train: Interactions, train_history: int, short_history_rate: float):
        self.train_history, self.short_history_rate = train_history, short_history_rate
        self.histories = [train.history(r) for r in range(train.n_users)]
        users, positions = [], []
        for row, (items, _) in enumerate(self.histories):
            if len(items) >= 2:
                users.append(np.full(len(items), row))
                positions.append(np.arange(len(items)))
        self.users = np.concatenate(users) if users else np.zeros(0, dtype=np.int64)
        self.positions = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.users)

    def target(self, example: np.ndarray) -> np.ndarray:
        return np.array([self.histories[u][0][p] for u, p in zip(self.users[example], self.positions[example])])

    def strength(self, example: np.ndarray) -> np.ndarray:
        return np.array([self.histories[u][1][p] for u, p in zip(self.users[example], self.positions[example])])

    def history(self, example: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
        items_out, strengths_out = [], []
        for user, position in zip(self.users[example], self.positions[example]):
            items, strengths = self.histories[user]
            others = np.delete(np.arange(len(items)), position)
            size = min(self.train_history, len(others))
            if rng.random() < self.short_history_rate:
                size = min(size, int(rng.integers(1, 4)))
            keep = np.sort(rng.choice(len(others), size=size, replace=False))   # sorted: recency order kept
            items_out.append(items[others[keep]])
            strengths_out.append(strengths[others[keep]])
        return items_out, strengths_out


def _positive_mask(train: Interactions, users: np.ndarray, candidates: np.ndarray) -> torch.Tensor:
    """(B, C) True where candidate item c is one of user b's training items (a false negative)."""
    block = train.matrix[users][:, candidates]
    return torch.from_numpy(np.asarray(block.toarray() > 0))


@torch.no_grad()
def _history_bank(net, content: torch.Tensor, warm: torch.Tensor, rows: np.ndarray, n_items: int,
                  dim: int) -> torch.Tensor:
    """Item tower vectors (no gradient) of the items that can appear in histories."""
    net.eval()
    bank = torch.zeros(n_items, dim)
    index = torch.from_numpy(rows)
    bank[index] = net.item_tower(content[index], warm[index])
    return bank


def train_two_tower(model: TwoTowerRecommender, train: Interactions, features: ItemFeatures,
                    probe: RankingProbe | None) -> dict[str, Any]:
    with torch_threads(model.params.threads):
        return _train(model, train, features, probe)


def _train(model: TwoTowerRecommender, train: Interactions, features: ItemFeatures,
           probe: RankingProbe | None) -> dict[str, Any]:
    from recsys.models.two_tower import pad_histories

    p = model.params
    net = model.net
    assert net is not None
    started = time.perf_counter()
    rng = np.random.default_rng(p.seed)
    sampler = ExampleSampler(train, p.train_history, p.short_history_rate)
    if not len(sampler):
        raise ValueError("no user has two training items: nothing to learn a user tower from")
    content, warm = torch.from_numpy(features.content), torch.from_numpy(features.warm)
    counts = train.item_counts().astype(np.float64)
    expected_in_batch = counts / counts.sum() * min(p.batch_size, len(sampler))
    history_items = np.flatnonzero(counts > 0)
    pool = history_items if p.negative_pool == "warm" else np.arange(train.n_items)
    n_negatives = p.uniform_negatives if p.loss != "mse" else 0
    uniform_rate = n_negatives / len(pool)
    optimizer = torch.optim.AdamW(net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    per_epoch = len(sampler) if p.examples_per_epoch is None else min(p.examples_per_epoch, len(sampler))
    steps_per_epoch = math.ceil(per_epoch / p.batch_size)
    curve: list[dict[str, Any]] = []
    best: tuple[float, int, dict] | None = None
    key = f"recall@{probe.k}" if probe is not None else None
    probe_rows = model.user_rows(probe.user_ids.tolist()) if probe is not None else np.zeros(0, dtype=np.int64)
    probe_rows = probe_rows[probe_rows >= 0]
    for epoch in range(1, p.max_epochs + 1):
        net.train()
        epoch_started, losses = time.perf_counter(), []
        order = rng.permutation(len(sampler))[:per_epoch]
        for step in range(steps_per_epoch):
            example = order[step * p.batch_size:(step + 1) * p.batch_size]
            targets = sampler.target(example)
            histories, strengths = sampler.history(example, rng)
            negatives = pool[rng.integers(0, len(pool), n_negatives)]
            if step % p.bank_refresh_steps == 0:
                bank = _history_bank(net, content, warm, history_items, train.n_items, p.dim)
                net.train()
            candidates = np.concatenate([targets, negatives])
            unique, inverse = np.unique(candidates, return_inverse=True)
            warm_rows = warm[unique]
            if p.warm_dropout > 0 and warm_rows.shape[1]:
                keep = torch.from_numpy(rng.random(len(unique)) >= p.warm_dropout).float().unsqueeze(1)
                warm_rows = warm_rows * keep
            candidate_vectors = net.item_tower(content[unique], warm_rows)[torch.from_numpy(inverse)]
            index, mask, log_strength = pad_histories(histories, strengths, max(len(h) for h in histories))
            users = net.user_tower(bank[torch.from_numpy(index)], torch.from_numpy(mask),
                                   torch.from_numpy(log_strength))
            target_vectors = candidate_vectors[:len(targets)]
            if p.loss == "mse":
                ratings = torch.from_numpy(_pair_ratings(train, sampler, example))
                predicted = net.rating_head((users * target_vectors).sum(dim=1))
                loss = F.mse_loss(predicted, ratings)
            else:
                logits = users @ candidate_vectors.T / p.temperature
                false_negative = _positive_mask(train, sampler.users[example], candidates)
                false_negative[torch.arange(len(targets)), torch.arange(len(targets))] = False
                if p.loss == "softmax":
                    correction = np.log(expected_in_batch[candidates] + uniform_rate)
                    logits = logits - torch.from_numpy(correction.astype(np.float32))
                    logits = logits.masked_fill(false_negative, float("-inf"))
                    loss = F.cross_entropy(logits, torch.arange(len(targets)))
                else:
                    margin = logits.diagonal().unsqueeze(1) - logits
                    valid = ~false_negative
                    valid[torch.arange(len(targets)), torch.arange(len(targets))] = False
                    loss = F.softplus(-margin)[valid].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        train_seconds = time.perf_counter() - epoch_started
        # Only the probe reads user vectors between epochs: a million users are embedded once, at the end.
        model.refresh_vectors(train, features, users=probe_rows)
        metrics = probe.evaluate(model) if probe is not None else {}
        point = {"epoch": epoch, "train_loss": float(np.mean(losses)), **metrics,
                 "epoch_seconds": round(train_seconds, 2), "examples_per_s": round(per_epoch / train_seconds)}
        curve.append(point)
        log.info("two-tower epoch %d/%d: loss %.4f %s (%.1fs, %d examples/s)", epoch, p.max_epochs,
                 point["train_loss"], {k: round(v, 4) for k, v in metrics.items()}, train_seconds,
                 point["examples_per_s"])
        score = metrics[key] if key else -point["train_loss"]
        if best is None or score > best[0]:
            best = (score, epoch, copy.deepcopy(net.state_dict()))
        elif epoch - best[1] >= p.patience:
            log.info("early stop: no %s gain for %d epochs", key or "training loss", p.patience)
            break
    assert best is not None
    net.load_state_dict(best[2])
    model.refresh_vectors(train, features)
    best_point = next(c for c in curve if c["epoch"] == best[1])
    return {"users": train.n_users, "items": train.n_items, "pairs": train.nnz, "examples": len(sampler),
            "examples_per_epoch": per_epoch,
            "warm_items": int(features.is_warm.sum()), "best_epoch": best[1], "epochs_run": len(curve),
            "validation_users": len(probe) if probe is not None else 0,
            "best_validation": {k: v for k, v in best_point.items() if "@" in k},
            "curve": curve, "fit_seconds": round(time.perf_counter() - started, 2)}


def _pair_ratings(train: Interactions, sampler: ExampleSampler, example: np.ndarray) -> np.ndarray:
    """The rating of each example's (user, target) pair (explicit or implied, see Interactions)."""
    out = np.zeros(len(example), dtype=np.float32)
    for i, (user, position) in enumerate(zip(sampler.users[example], sampler.positions[example])):
        item = sampler.histories[user][0][position]
        lo, hi = train.matrix.indptr[user], train.matrix.indptr[user + 1]
        out[i] = train.ratings[lo + int(np.searchsorted(train.matrix.indices[lo:hi], item))]
    return out
