"""What the two list tables (similar_items, user_recommendations) are built from, loaded in one place.

Both read the same lake files: gold products, the content vectors as the saved index indexes them,
the interaction split (the history, with popularity and co-purchases pinned with the models:
``recsys.gold.behaviour``), ALS, the two-tower vectors and the tuned weights. They differ
only in what a missing input means: similar items need no history (content alone still lists
every product), user lists cannot exist without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recsys import storage
from recsys.evaluation.tuning import load_tuned
from recsys.gold.behaviour import pinned_behaviour
from recsys.gold.model_inputs import als_space, content_vectors, tower_items, tower_space
from recsys.gold.similar_items import DEFAULT_SIMILAR_WEIGHTS
from recsys.gold.user_recommendations import DEFAULT_USER_WEIGHTS, UserSpace
from recsys.index import IdMap, ItemIndex, catalog_search, embeddings_spec
from recsys.index.from_embeddings import CatalogSearch
from recsys.recommend import History, build_history
from recsys.vectors import AlignedVectors

LIST_TABLES = ("similar_items", "user_recommendations")
DEFAULT_WEIGHTS = {"similar_items": DEFAULT_SIMILAR_WEIGHTS, "user_recommendations": DEFAULT_USER_WEIGHTS}


@dataclass(frozen=True)
class ListSources:
    """Where the list tables' inputs live (lake files; a table's path with its ``.parquet``)."""

    products: Path
    embeddings: Path
    index: Path
    interactions: Path
    als: Path
    two_tower: Path
    tower_vectors: Path
    tuned_weights: Path
    behaviour: Path              # the pinned popularity and co-purchases (a folder)


@dataclass(frozen=True)
class IndexedCatalog:
    """Gold products, their id map, the content vectors the saved index holds, and a search over it."""

    products: pl.DataFrame
    ids: IdMap
    content: AlignedVectors
    search: CatalogSearch
    index_kind: str


@dataclass(frozen=True)
class ListInputs:
    catalog: IndexedCatalog
    interactions: pl.DataFrame | None      # the history splits' rows (None: no interactions yet)
    history: History | None
    tower: AlignedVectors | UserSpace | None   # item vectors (similar items) or users and items (user lists)
    als: AlignedVectors | UserSpace | None
    weights: dict[str, float]
    weights_from: str                      # "config", "tuned" or "defaults"
    behaviour_pinned: bool | None = None   # popularity and co-purchases reused (True) or taken now (False)

    @property
    def signals(self) -> dict[str, bool]:
        """Which re-ranking signals this build has."""
        return {"content": True, "two_tower": self.tower is not None, "als": self.als is not None,
                "popularity": self.history is not None}


def indexed_catalog(products_path: Path, embeddings_path: Path, index_folder: Path) -> IndexedCatalog:
    """The catalog aligned to the saved index. The index is used only if it was built for the current
    embeddings (encoder, version, column); the content vectors are the ones it indexes (re-fused with
    the text/image weight its manifest records)."""
    products = storage.read_parquet(products_path)
    ids = IdMap(products["product_id"].to_list())
    embeddings = storage.read_parquet(embeddings_path)
    index = ItemIndex.load(index_folder)
    spec = index.manifest.vectors
    index.require(embeddings_spec(embeddings, spec.column, spec.image_weight))
    content = content_vectors(ids, embeddings, spec.column, spec.image_weight)
    return IndexedCatalog(products, ids, content, catalog_search(index, ids), index.kind)


def list_weights(table: str, configured: Mapping[str, float] | None, tuned: Mapping | None) -> tuple[dict, str]:
    """The re-ranking weights of ``table`` and where they came from: the config's, else the ones tuned on
    validation, else the built-in defaults."""
    if configured:
        return dict(configured), "config"
    if tuned and tuned.get(table):
        return dict(tuned[table]), "tuned"
    return dict(DEFAULT_WEIGHTS[table]), "defaults"


def _read_if_exists(path: Path) -> pl.DataFrame | None:
    return storage.read_parquet(path) if Path(path).exists() else None


def load_list_inputs(table: str, sources: ListSources, history_splits: Sequence[str],
                     configured_weights: Mapping[str, float] | None, models: Mapping) -> ListInputs:
    """Everything ``table`` (one of ``LIST_TABLES``) is built from. User lists need the interactions;
    similar items use whatever signals exist. ``models``: the versions of the trained models, which
    the popularity and co-purchases are pinned with."""
    if table not in LIST_TABLES:
        raise ValueError(f"{table!r} is not a list table ({', '.join(LIST_TABLES)})")
    catalog = indexed_catalog(sources.products, sources.embeddings, sources.index)
    split = _read_if_exists(sources.interactions)
    interactions = split.filter(pl.col("split").is_in(list(history_splits))) if split is not None else None
    if interactions is None and table == "user_recommendations":
        raise FileNotFoundError(f"{sources.interactions} is missing: materialize the interactions first")
    history, pinned = None, None
    if interactions is not None:
        behaviour, pinned = pinned_behaviour(sources.behaviour, interactions, models)
        history = behaviour.applied_to(build_history(interactions, catalog.ids), catalog.ids)
    tower_frame = _read_if_exists(sources.tower_vectors)
    als = als_space(sources.als, catalog.ids, history) if history is not None else None
    if table == "similar_items":
        tower = tower_items(tower_frame, catalog.ids) if tower_frame is not None else None
        als = als.items if als is not None else None
    else:
        tower = tower_space(sources.two_tower, tower_frame, interactions, catalog.ids, history)
    weights, weights_from = list_weights(table, configured_weights, load_tuned(sources.tuned_weights))
    return ListInputs(catalog, interactions, history, tower, als, weights, weights_from, pinned)
