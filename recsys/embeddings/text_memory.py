"""Text-memory readout: pull the tower's image vector towards the texts of similar catalog items.

InfoNCE trains image vectors to rank their own product's text first, not to sit on it: the
tower's vectors find their own text well, yet far fewer of them are nearest to their own article
type's prompt than the products' own texts are (benchmarks/design_measurements.md). The readout maps a tower vector ``v`` onto the text
manifold by attention over the training texts ``M`` (unique MiniLM vectors of the pairs the
tower was trained on) and mixes the result back in:

    r = softmax(v M^T / temperature) M,      out = normalize((1 - mix) v + mix normalize(r))

``mix = 0`` is the bare tower. Temperature and mix are chosen without labels and without the
held-out pairs: on a sample of training pairs, each with its own text left out of the memory,
maximize (mean cosine to its own text) + text -> image Recall@10 + image -> text Recall@10
(within the sample). The cosine term alone would pick the pure readout, which finds items
worse; the recall terms keep the tower's own discrimination in the mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from recsys.embeddings.alignment_metrics import recall_at_k

TEMPERATURES = (0.01, 0.02, 0.03, 0.05)
MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)


def readout(vectors: torch.Tensor, memory: torch.Tensor, temperature: float, mix: float,
            exclude: torch.Tensor | None = None) -> torch.Tensor:
    """L2-normalized ``(1 - mix) v + mix * attention readout``; ``exclude`` (n, m) bool hides memory rows."""
    vectors = F.normalize(vectors.float(), dim=-1)
    if mix == 0 or len(memory) == 0:
        return vectors
    scores = vectors @ memory.T / temperature
    if exclude is not None:
        scores = scores.masked_fill(exclude, float("-inf"))
    read = F.normalize(torch.softmax(scores, dim=-1) @ memory, dim=-1)
    return F.normalize((1 - mix) * vectors + mix * read, dim=-1)


@dataclass(frozen=True)
class ReadoutChoice:
    temperature: float
    mix: float
    scores: dict[str, dict[str, float]]   # "temperature=..,mix=.." -> own_text_cosine, recalls@10, objective


def choose_readout(image_vectors: np.ndarray, text_vectors: np.ndarray, text_keys: list[str], memory: np.ndarray,
                   memory_keys: list[str], sample: int = 1000, seed: int = 0) -> ReadoutChoice:
    """Pick temperature and mix on a sample of training pairs, each pair's own text hidden from the memory."""
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(image_vectors))[: min(sample, len(image_vectors))]
    v = torch.from_numpy(np.ascontiguousarray(image_vectors[chosen], dtype=np.float32))
    t = np.ascontiguousarray(text_vectors[chosen], dtype=np.float32)
    m = torch.from_numpy(np.ascontiguousarray(memory, dtype=np.float32))
    keys = np.asarray(text_keys, dtype=object)[chosen]
    exclude = torch.from_numpy(keys[:, None] == np.asarray(memory_keys, dtype=object)[None, :])
    scores, best = {}, (float("-inf"), 0.01, 0.0)
    for temperature in TEMPERATURES:
        for mix in MIXES:
            out = readout(v, m, temperature, mix, exclude).numpy()
            own = float((out * t).sum(axis=1).mean())
            text_to_image, image_to_text = recall_at_k(t, out, (10,))[10], recall_at_k(out, t, (10,))[10]
            objective = own + text_to_image + image_to_text
            scores[f"temperature={temperature},mix={mix}"] = {
                "own_text_cosine": round(own, 4), "text_to_image@10": round(text_to_image, 4),
                "image_to_text@10": round(image_to_text, 4), "objective": round(objective, 4)}
            if objective > best[0]:
                best = (objective, temperature, mix)
    return ReadoutChoice(temperature=best[1], mix=best[2], scores=scores)
