"""When a nightly build reuses a trained model and when it trains a new one.

Trained models (the image tower, ALS, the two-tower, the tuned hybrid weights) are *pinned* between
retrains: a nightly build that changes 1% of the catalog serves new and changed products through
the pinned models (the towers are inductive: a new product gets a vector from its content, a new
user from their history) instead of retraining. A model is retrained when

- there is no saved model, or its settings (hyperparameters, upstream model versions) changed;
- it is older than ``every_days`` (default weekly: the data a week brings moves ALS and the towers
  measurably, a night's rarely does, and a retrain changes every vector and so every top-K row);
- the data it was trained on drifted: the share of training keys added or gone since it was
  trained exceeds ``max_drift`` (default 10%);
- or a user forces it.

Between retrains, every table is exactly what a full rebuild would produce *with the same pinned
models*; that is the property the incremental tests check. Each model folder keeps a
``training_record.json`` (settings hash, trained_at) and ``training_keys.parquet`` (one row per
training key) so the next build can decide; a stage whose result is not a folder of its own (the
tuned weights, one JSON file; the evaluation, tables among the published gold tables) keeps them in
its ``state/`` folder instead.

``fit_or_pin`` is the one way every stage does this: decide, then reuse the pinned result or fit a
new one and record what it was fitted on, written together with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Generic, TypeVar

import polars as pl

from recsys import storage

T = TypeVar("T")

RECORD_FILE = "training_record.json"
KEYS_FILE = "training_keys.parquet"


@dataclass(frozen=True)
class RetrainPolicy:
    every_days: float = 7.0
    max_drift: float = 0.10
    force: bool = False


@dataclass(frozen=True)
class TrainingData:
    """What a model would be trained on now: its settings and the keys of its training rows."""

    settings: dict
    keys: pl.Series

    @property
    def settings_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    drift: float | None = None
    age_days: float | None = None

    def describe(self) -> dict:
        return {"retrained": self.retrain, "reason": self.reason,
                "drift": round(self.drift, 4) if self.drift is not None else None,
                "age_days": round(self.age_days, 2) if self.age_days is not None else None}


def split_pair_keys(split: pl.DataFrame, name: str) -> pl.Series:
    """One key per (user, product) pair of split ``name`` of an interaction split table, sorted: the
    training (or tuning, or scoring) keys of a stage that reads that split."""
    return (split.filter(pl.col("split") == name).select(pl.concat_str(["user_id", "product_id"], separator="|"))
            .unique().to_series().sort())


def drift(saved: pl.Series, current: pl.Series) -> float:
    """Share of keys added or removed, relative to the saved set (1.0 when nothing was saved)."""
    before, now = set(saved.to_list()), set(current.to_list())
    return len(before ^ now) / len(before) if before else 1.0


def decide(model_dir: Path, data: TrainingData, policy: RetrainPolicy, now: datetime | None = None) -> RetrainDecision:
    """Whether the model in ``model_dir`` must be retrained for ``data`` under ``policy``."""
    now = now or datetime.now(timezone.utc)
    if policy.force:
        return RetrainDecision(True, "forced by config")
    with storage.reading_dir(Path(model_dir)) as folder:
        record_path, keys_path = folder / RECORD_FILE, folder / KEYS_FILE
        if not record_path.exists() or not keys_path.exists():
            return RetrainDecision(True, "no saved model with a training record")
        record = json.loads(record_path.read_text())
        saved_keys = pl.read_parquet(keys_path)["key"]
    if record.get("settings_hash") != data.settings_hash:
        return RetrainDecision(True, "settings or upstream model versions changed")
    age = (now - datetime.fromisoformat(record["trained_at"])).total_seconds() / 86_400
    moved = drift(saved_keys, data.keys)
    if age >= policy.every_days:
        return RetrainDecision(True, f"older than {policy.every_days:g} days", moved, age)
    if moved > policy.max_drift:
        return RetrainDecision(True, f"training data drifted {moved:.1%} > {policy.max_drift:.0%}", moved, age)
    return RetrainDecision(False, f"pinned: {age:.1f} days old, drift {moved:.1%}", moved, age)


def write_record(model_dir: Path, data: TrainingData, now: datetime | None = None) -> None:
    """Record what the model now in ``model_dir`` was trained on (after it was saved there)."""
    now = now or datetime.now(timezone.utc)
    model_dir = Path(model_dir)
    storage.write_parquet_atomic(pl.DataFrame({"key": data.keys.cast(pl.String)}), model_dir / KEYS_FILE)
    storage.write_text_atomic(model_dir / RECORD_FILE, json.dumps(
        {"settings_hash": data.settings_hash, "settings": data.settings, "trained_at": now.isoformat(),
         "keys": len(data.keys)}, indent=2, sort_keys=True, default=str))


def forget(model_dir: Path) -> None:
    """Drop the record before a new model is saved, so a crash in between cannot pin it to old data."""
    (Path(model_dir) / RECORD_FILE).unlink(missing_ok=True)


def trained_at(model_dir: Path) -> str | None:
    with storage.reading_dir(Path(model_dir)) as folder:
        path = folder / RECORD_FILE
        return json.loads(path.read_text())["trained_at"] if path.exists() else None


def model_training_data(params, split: pl.DataFrame, leave_out: tuple[str, ...] = (), **settings) -> TrainingData:
    """A model's training data: its hyperparameters (a dataclass; ``leave_out`` names those that do not
    change the model, e.g. thread counts), any further ``settings``, and the pairs of the train split."""
    kept = {k: v for k, v in asdict(params).items() if k not in leave_out}
    return TrainingData(settings={"params": kept, **settings}, keys=split_pair_keys(split, "train"))


@dataclass(frozen=True)
class FitOrPin(Generic[T]):
    """What ``fit_or_pin`` did: the result (fitted now, or the pinned one) and the decision."""

    result: T
    decision: RetrainDecision

    @property
    def fitted(self) -> bool:
        return self.decision.retrain


def fit_or_pin(folder: Path, data: TrainingData, policy: RetrainPolicy, *, pinned: Callable[[], T | None],
               fit: Callable[[Callable[[Path], None]], T], now: datetime | None = None) -> FitOrPin[T]:
    """Reuse the result saved in ``folder`` or fit a new one, as ``decide`` says.

    ``pinned()`` loads the saved result (None when there is none: then it is fitted whatever the
    decision). ``fit(record)`` fits, saves the result to ``folder`` and calls ``record(f)`` with the
    folder ``f`` it is writing (a staging folder swapped in over ``folder`` with the result, or
    ``folder`` itself), so the record and what it describes appear together. The old record is
    dropped first: a fit that fails half-way leaves nothing pinned.
    """
    decision = decide(folder, data, policy, now)
    if not decision.retrain and (saved := pinned()) is not None:
        return FitOrPin(saved, decision)
    forget(folder)
    result = fit(lambda target: write_record(target, data, now))
    if trained_at(folder) is None:
        raise RuntimeError(f"{folder}: the fit saved no training record (fit must call record(folder))")
    return FitOrPin(result, decision)
