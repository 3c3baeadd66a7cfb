"""The app's answers, from one snapshot: precomputed lists first, the index or the two-tower model
for what no table holds (free text, photos, a new shopper, and lists thinned by filters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from recsys.index.queries import nearest
from serving.catalog import Filters
from serving.ranked_lists import ListRow
from serving.snapshot import Snapshot

DEEPER_REASON = {"similar": "similar look and description", "user": "like the rest of your list",
                 "style": "fits the style", "search": "matches your search", "image": "looks similar",
                 "new_shopper": "matches what you clicked"}


class NotFound(LookupError):
    """An id this build does not know (HTTP 404)."""


class Unavailable(RuntimeError):
    """This build cannot answer this kind of query (a model is missing; HTTP 503)."""


def _result(snapshot: Snapshot, rank: int, row: ListRow) -> dict:
    card = snapshot.cards[row.product_id]
    return {"rank": rank, "product_id": row.product_id, "name": card.name, "score": round(row.score, 4),
            "reason": row.reason, "image_url": card.image_url, "model": row.model, "brand": card.brand,
            "gender": card.gender, "category": card.category, "article_type": card.article_type,
            "colour": card.colour, "price": card.price, "currency": card.currency}


def _mean_vector(snapshot: Snapshot, product_ids: Sequence[str]) -> np.ndarray | None:
    """The normalized mean of the indexed vectors of ``product_ids`` (None when none is indexed)."""
    index = snapshot.index
    if index is None:
        return None
    at = index.ids.positions_of(list(product_ids))
    labels = index.ids.labels[at[at >= 0]]
    if not len(labels):
        return None
    mean = np.stack([index.index.reconstruct(int(label)) for label in labels]).mean(axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 0 else None


def _from_index(snapshot: Snapshot, vector: np.ndarray | None, k: int, filters: Filters, exclude: set[str],
                model: str, reason: str) -> list[ListRow]:
    if vector is None or snapshot.index is None or k <= 0:
        return []
    hits = nearest(snapshot.index, vector, k, snapshot.allowed(filters), exclude)
    return [ListRow(p, s, reason, model) for p, s in hits if p in snapshot.cards]


def _limit(k: int, filters: Filters) -> int | None:
    """How much of a precomputed list a request reads: k rows, or all of it when filters may drop some."""
    return k if filters.is_empty else None


def _complete(snapshot: Snapshot, rows: list[ListRow], k: int, filters: Filters, exclude: set[str],
              deeper_vector: Callable[[], np.ndarray | None], reason: str) -> list[dict]:
    """The list's rows that pass ``filters``, then, while fewer than ``k``, the index's nearest
    products to ``deeper_vector()`` that pass them (never a product already listed or excluded)."""
    cards, unfiltered = snapshot.cards, filters.is_empty
    kept = [r for r in rows if r.product_id in cards and (unfiltered or filters.matches(cards[r.product_id]))][:k]
    if len(kept) < k and (not unfiltered or len(rows) < k):
        seen = exclude | {r.product_id for r in rows}
        kept += _from_index(snapshot, deeper_vector(), k - len(kept), filters, seen, "content", reason)
    return [_result(snapshot, rank, row) for rank, row in enumerate(kept, start=1)]


def similar(snapshot: Snapshot, product_id: str, k: int, filters: Filters) -> list[dict]:
    if product_id not in snapshot.cards:
        raise NotFound(f"unknown product {product_id!r}")
    rows = snapshot.similar.rows(product_id, _limit(k, filters)) if product_id in snapshot.similar else []

    def vector():
        try:
            return snapshot.index.vector(product_id) if snapshot.index is not None else None
        except KeyError:
            return None
    return _complete(snapshot, rows, k, filters, {product_id}, vector, DEEPER_REASON["similar"])


def for_user(snapshot: Snapshot, user_id: str, k: int, filters: Filters) -> list[dict]:
    if user_id not in snapshot.users:
        raise NotFound(f"unknown user {user_id!r} (a new shopper: POST /recommendations or GET /styles)")
    rows = snapshot.users.rows(user_id, _limit(k, filters))
    return _complete(snapshot, rows, k, filters, set(), lambda: _mean_vector(snapshot, [r.product_id for r in rows]),
                     DEEPER_REASON["user"])


def for_style(snapshot: Snapshot, style: str, gender: str | None, k: int, filters: Filters) -> list[dict]:
    """A style's list for ``gender``: the list built for that gender (which may hold unisex products),
    else the any-gender list filtered to it."""
    key = (style, gender) if (style, gender) in snapshot.styles else (style, None)
    if key[1] is not None:
        filters = replace(filters, gender=None)
    if key not in snapshot.styles:
        raise NotFound(f"unknown style {style!r} (GET /styles lists them)")
    rows = snapshot.styles.rows(key, _limit(k, filters))
    return _complete(snapshot, rows, k, filters, set(), lambda: _mean_vector(snapshot, [r.product_id for r in rows]),
                     DEEPER_REASON["style"])


def styles(snapshot: Snapshot) -> list[dict]:
    genders: dict[str, list[str]] = {}
    for style, gender in snapshot.styles.keys:
        genders.setdefault(style, []).append(gender or "any")
    return [{"style": style, "genders": sorted(g)} for style, g in sorted(genders.items())]


def new_shopper(snapshot: Snapshot, history: Sequence[str], k: int, filters: Filters) -> list[dict]:
    """A shopper known only by a few clicks (most recent first), through the saved user tower;
    never a product of the history."""
    unknown = [p for p in history if p not in snapshot.cards]
    if unknown:
        raise NotFound(f"unknown products in the history: {unknown[:10]}")
    if snapshot.shoppers is None:
        raise Unavailable(snapshot.unavailable.get("two_tower", "no two-tower model in this build"))
    exclude, wanted, kept = set(history), k, []
    while True:
        try:   # scored together with the new shoppers asking at the same time
            ids, scores = snapshot.shoppers.recommend(list(history), wanted)
        except ValueError as error:     # no product of the history is known to the model
            raise NotFound(str(error)) from error
        kept = [ListRow(p, float(s), DEEPER_REASON["new_shopper"], "two_tower")
                for p, s in zip(ids, scores.tolist())
                if p in snapshot.cards and p not in exclude and filters.matches(snapshot.cards[p])]
        if len(kept) >= k or len(ids) < wanted:     # enough, or the model ranked every product
            break
        wanted *= 4
    return [_result(snapshot, rank, row) for rank, row in enumerate(kept[:k], start=1)]


def _encoder(snapshot: Snapshot):
    if snapshot.encoder is None or snapshot.index is None:
        raise Unavailable(snapshot.unavailable.get("encoder") or snapshot.unavailable.get("index")
                          or "no query encoder in this build")
    return snapshot.encoder


def search_text(snapshot: Snapshot, text: str, k: int, filters: Filters) -> list[dict]:
    vector = _encoder(snapshot).encode_texts([text])[0]
    rows = _from_index(snapshot, vector, k, filters, set(), "content", DEEPER_REASON["search"])
    return [_result(snapshot, rank, row) for rank, row in enumerate(rows, start=1)]


class NotAnImage(ValueError):
    """The upload could not be decoded as an image (HTTP 415)."""


def search_image(snapshot: Snapshot, image: Path, k: int, filters: Filters) -> list[dict]:
    encoded = _encoder(snapshot).encode_images([image])
    if encoded.errors[0] is not None:
        raise NotAnImage(f"the upload cannot be read as an image: {encoded.errors[0]}")
    rows = _from_index(snapshot, encoded.vectors[0], k, filters, set(), "content", DEEPER_REASON["image"])
    return [_result(snapshot, rank, row) for rank, row in enumerate(rows, start=1)]
