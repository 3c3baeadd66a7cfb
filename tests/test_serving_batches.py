"""New shoppers asking at the same time are scored in one batch, and each gets its own answer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from serving.shopper_batches import ShopperBatches


class _Model:
    """Answers ``k`` ids derived from the history; counts its calls and their sizes."""

    def __init__(self, slow: threading.Event | None = None):
        self.batches: list[int] = []
        self.slow = slow

    def recommend_for_histories(self, histories, ks, search=None):
        if self.slow is not None:
            self.slow.wait(5)
        self.batches.append(len(histories))
        if any(h == ["unknown"] for h in histories):
            raise ValueError("none of the products of history 0 is known to the model")
        return [([f"{h[0]}>{i}" for i in range(k)], np.arange(k, 0, -1, dtype=np.float32))
                for h, k in zip(histories, ks)]


def test_one_shopper_alone_is_the_plain_path():
    model = _Model()
    ids, scores = ShopperBatches(model).recommend(["a"], 3)
    assert ids == ["a>0", "a>1", "a>2"] and scores.tolist() == [3, 2, 1] and model.batches == [1]


def test_shoppers_waiting_on_a_batch_are_scored_together_and_each_gets_its_answer():
    release = threading.Event()
    model = _Model(slow=release)
    batches = ShopperBatches(model)
    answers: dict[str, list[str]] = {}

    def ask(name: str, k: int) -> None:
        answers[name] = batches.recommend([name], k)[0]

    first = threading.Thread(target=ask, args=("first", 1))
    first.start()
    while not batches._compute_lock.locked():     # the first shopper is being scored
        pass
    others = [threading.Thread(target=ask, args=(f"s{i}", i + 1)) for i in range(6)]
    for t in others:
        t.start()
    while len(batches._queue) < 6:                # all six wait in the queue
        pass
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert answers["first"] == ["first>0"]
    assert all(answers[f"s{i}"] == [f"s{i}>{j}" for j in range(i + 1)] for i in range(6))
    assert model.batches == [1, 6]


def test_a_history_the_model_cannot_place_fails_alone():
    model = _Model()
    batches = ShopperBatches(model)
    batches._queue.append(__import__("serving.shopper_batches", fromlist=["_Job"])._Job(["b"], 2))
    with pytest.raises(ValueError, match="known to the model"):
        batches.recommend(["unknown"], 2)
    assert batches._queue == [] and model.batches[-1] == 1
