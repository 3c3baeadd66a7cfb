"""How well image and text vectors share one space: cross-modal retrieval and zero-shot labels.

- Recall@k (text -> image): for each held-out product's text, rank the held-out images by
  cosine; a hit when its own image is in the top k. Image -> text likewise. Ties are counted
  against the query (a candidate scoring exactly as high as the true one ranks before it), so a
  degenerate model that maps everything to one point scores chance, not 1.0.
  Chance level is k / n.
- Zero-shot accuracy: each image is labelled with the class whose prompt vector (the text
  encoder on "a photo of a {article_type}") is nearest; the share labelled correctly.
"""

from __future__ import annotations

import numpy as np

ZERO_SHOT_PROMPT = "a photo of a {}"


def _ranks(similarity: np.ndarray) -> np.ndarray:
    """0-based rank of the diagonal entry in each row, ties counted against it."""
    own = np.diag(similarity)[:, None]
    at_least_as_good = (similarity >= own).sum(axis=1) - 1  # minus the entry itself
    return at_least_as_good


def recall_at_k(query_vectors: np.ndarray, target_vectors: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[int, float]:
    """Share of queries whose own target (same row) ranks in the top k among all targets."""
    ranks = _ranks(np.asarray(query_vectors, np.float32) @ np.asarray(target_vectors, np.float32).T)
    return {k: float((ranks < k).mean()) for k in ks}


def zero_shot_accuracy(image_vectors: np.ndarray, labels: list[str], prompt_vectors: np.ndarray,
                       prompt_labels: list[str]) -> float:
    """Share of images whose nearest prompt is their own label."""
    nearest = (np.asarray(image_vectors, np.float32) @ np.asarray(prompt_vectors, np.float32).T).argmax(axis=1)
    predicted = np.asarray(prompt_labels, dtype=object)[nearest]
    return float(np.mean(predicted == np.asarray(labels, dtype=object)))


def alignment_report(image_vectors: np.ndarray, text_vectors: np.ndarray, labels: list[str],
                     prompt_vectors: np.ndarray, prompt_labels: list[str],
                     ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """``text_to_image@k``, ``image_to_text@k`` and ``zero_shot_accuracy`` for aligned rows."""
    report = {f"text_to_image@{k}": v for k, v in recall_at_k(text_vectors, image_vectors, ks).items()}
    report |= {f"image_to_text@{k}": v for k, v in recall_at_k(image_vectors, text_vectors, ks).items()}
    report["zero_shot_accuracy"] = zero_shot_accuracy(image_vectors, labels, prompt_vectors, prompt_labels)
    return {k: round(v, 4) for k, v in report.items()}
