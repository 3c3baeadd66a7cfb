"""gold/style_recommendations: cold start for a shopper who only picks a style, and maybe a gender.

Styles are the persona catalogue (``recsys.interactions.personas``): each style states weights
over product attributes (article type, colour, usage, category). For a (style, gender) pair the
re-ranker mixes
- ``style_fit``: the product's affinity to the style (plus its gender fit for the shopper),
- ``style_popularity``: how many shoppers *whose history fits that style best* chose the product
  (each user is assigned the style with the highest mean affinity over their items),
- ``popularity``: how many shoppers chose it at all.
With a gender, products made for another gender are left out (gender fit below
``min_gender_fit``); ``gender`` null is the list for a shopper who did not say.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from recsys.gold.schemas import GOLD_TABLES, TableBuild, conform
from recsys.recommend import CandidateSource, History, ItemPriorSignal, generate_candidates, rerank
from recsys.recommend.reasons import style_reasons
from recsys.topk import DEFAULT_K

log = logging.getLogger(__name__)

DEFAULT_STYLE_WEIGHTS: dict[str, float] = {"style_fit": 1.0, "style_popularity": 0.5, "popularity": 0.1}
MATCHED_VALUES_SHOWN = 2


@dataclass(frozen=True)
class StyleCatalogue:
    """The styles a new shopper can pick and how products fit them."""

    preferences: Mapping[str, Mapping[str, Mapping[str, float]]]   # style -> column -> value -> weight
    affinity: Callable[[str, pl.DataFrame, str | None], np.ndarray]  # (style, products, gender) -> fit per product
    gender_fit: Callable[[str, pl.Series], np.ndarray]             # (shopper gender, product genders) -> fit
    genders: Sequence[str]                                           # shopper genders offered, e.g. Men, Women
    min_gender_fit: float = -1.0


@dataclass(frozen=True)
class StyleRecommendationsSettings:
    k: int = DEFAULT_K
    candidates_per_source: int = 200
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STYLE_WEIGHTS))


def assign_styles(history: History, products: pl.DataFrame, catalogue: StyleCatalogue) -> np.ndarray:
    """Each user's style index (into ``catalogue.preferences``): highest mean affinity over their items; -1 if none."""
    fits = np.stack([catalogue.affinity(style, products, None) for style in catalogue.preferences])  # (S, n_items)
    owned = history.owned
    user_of = np.repeat(np.arange(history.n_users), np.diff(owned.indptr))
    sums = np.zeros((len(fits), history.n_users), dtype=np.float64)
    for s in range(len(fits)):
        sums[s] = np.bincount(user_of, weights=fits[s][owned.indices], minlength=history.n_users)
    return np.where(np.diff(owned.indptr) > 0, sums.argmax(axis=0), -1)


def matched_values(style_prefs: Mapping[str, Mapping[str, float]], products: pl.DataFrame) -> pl.Series:
    """Per product, the attribute values the style likes (positive weight), strongest first: "Shirts, Formal"."""
    long = [products.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), pl.col(column).alias("value"),
                            pl.col(column).replace_strict(dict(prefs), default=0.0, return_dtype=pl.Float64)
                            .alias("weight"), pl.lit(order).alias("column_order"))
            for order, (column, prefs) in enumerate(style_prefs.items()) if column in products.columns and prefs]
    liked = (pl.concat(long).filter(pl.col("weight") > 0)
             .sort("row", "weight", "column_order", descending=[False, True, False])
             .group_by("row", maintain_order=True).agg(pl.col("value").head(MATCHED_VALUES_SHOWN).str.join(", "))
             if long else pl.DataFrame(schema={"row": pl.Int64, "value": pl.String}))
    rows = pl.DataFrame({"row": np.arange(products.height, dtype=np.int64)})
    return rows.join(liked, on="row", how="left").sort("row")["value"].alias("matched")


def build_style_recommendations(products: pl.DataFrame, catalogue: StyleCatalogue, history: History | None = None,
                                config: StyleRecommendationsSettings = StyleRecommendationsSettings(), *,
                                build_id: str) -> TableBuild:
    """K products per (style, gender) with gender in [None, *catalogue.genders]."""
    started = time.perf_counter()
    style_of = assign_styles(history, products, catalogue) if history is not None else None
    user_of_pair = np.repeat(np.arange(history.n_users), np.diff(history.owned.indptr)) if history is not None else None
    frames = []
    no_query = np.zeros((1, 0), np.float32)
    for s, style in enumerate(catalogue.preferences):
        matched = matched_values(catalogue.preferences[style], products)
        liked = matched.is_not_null().to_numpy()
        style_pop = np.zeros(products.height, dtype=np.float32)
        if history is not None:
            chose = np.isin(user_of_pair, np.flatnonzero(style_of == s))
            style_pop = np.log1p(np.bincount(history.owned.indices[chose], minlength=products.height)).astype(np.float32)
        for gender in [None, *catalogue.genders]:
            allowed = (catalogue.gender_fit(gender, products["gender"]) >= catalogue.min_gender_fit
                       if gender is not None else np.ones(products.height, dtype=bool))
            fit = ItemPriorSignal("style_fit", catalogue.affinity(style, products, gender).astype(np.float32), allowed)
            signals = [fit]
            # Candidates: products with an attribute the style likes, and the style's favourites;
            # a product with neither has nothing true to say for itself and is not proposed.
            sources = [CandidateSource("style_fit", ItemPriorSignal("style_fit", fit.values, allowed & liked).search(),
                                       no_query, config.candidates_per_source)]
            if history is not None:
                signals += [ItemPriorSignal("style_popularity", style_pop, allowed),
                            ItemPriorSignal("popularity", history.popularity_signal().values, allowed)]
                sources.append(CandidateSource("style_popularity", ItemPriorSignal(
                    "style_popularity", style_pop, allowed & (style_pop > 0)).search(), no_query,
                    config.candidates_per_source))
            rows = rerank(generate_candidates(sources, 1), signals, config.weights, config.k).rows()
            frames.append(pl.DataFrame({
                "style": pl.Series([style] * rows.height, dtype=pl.String),
                "gender": pl.Series([gender] * rows.height, dtype=pl.String),
                "rank": rows["rank"],
                "product_id": products["product_id"].gather(rows["item"]),
                "score": rows["score"],
                "reason": style_reasons(rows["signal"], style, matched.gather(rows["item"]),
                                        pl.Series(style_pop[rows["item"].to_numpy()] > 0)),
            }))
    table = (pl.concat(frames).with_columns(build_id=pl.lit(build_id)) if frames
             else pl.DataFrame(schema=GOLD_TABLES["style_recommendations"].schema))
    table = conform(table, GOLD_TABLES["style_recommendations"])
    seconds = time.perf_counter() - started
    log.info("style_recommendations: %d rows for %d styles x %d genders in %.1fs", table.height,
             len(catalogue.preferences), len(catalogue.genders) + 1, seconds)
    return TableBuild(table=table, seconds={"total": round(seconds, 3)})
