"""A synthetic gold world (silver-shaped products, content vectors, interactions, styles) and its five
gold tables, for the table, warehouse and CLI tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from recsys import storage
from recsys.catalog.schema import PRODUCT_SCHEMA
from recsys.gold import (
    SimilarItemsSettings,
    StyleCatalogue,
    UserRecommendationsSettings,
    build_products,
    build_record,
    build_similar_items,
    build_style_recommendations,
    build_user_recommendations,
)
from recsys.index import IdMap
from recsys.recommend import build_history
from recsys.topk import exact_search
from recsys.vectors import AlignedVectors

ARTICLE_TYPES = ["Shirts", "Jeans", "Dresses", "Sports Shoes", "Kurtas"]
COLOURS = ["Blue", "Black", "Red"]
GENDERS = ["Men", "Women", "Unisex", None]


def synthetic_products(n: int = 90, seed: int = 0) -> pl.DataFrame:
    """Silver-shaped products: attributes cycle so every type/colour/gender combination occurs."""
    rng = np.random.default_rng(seed)
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        source = "asos" if i % 10 == 0 else "myntra_catalog" if i % 3 == 0 else "myntra_styles"
        article_type = ARTICLE_TYPES[i % len(ARTICLE_TYPES)]
        colour = COLOURS[(i // len(ARTICLE_TYPES)) % len(COLOURS)]
        rows.append({
            "product_id": f"{source}:{1000 + i}", "source": source, "source_id": str(1000 + i),
            "name": f"Product {i} {colour} {article_type}", "description": None if i % 7 == 0 else f"desc {i}",
            "brand": f"Brand{i % 4}", "gender": GENDERS[i % len(GENDERS)], "category": "Apparel",
            "subcategory": None, "article_type": article_type, "colour": colour,
            "usage": "Sports" if article_type == "Sports Shoes" else "Casual", "season": None,
            "price": None if source == "myntra_styles" else float(rng.integers(100, 3000)),
            "currency": None if source == "myntra_styles" else ("GBP" if source == "asos" else "INR"),
            "image_urls": [f"raw/myntra/images/{1000 + i}.jpg"], "content_hash": f"h{i}",
            "ingested_at": now, "source_file": "x.csv", "source_line": i + 2,
        })
    return pl.DataFrame(rows, schema=PRODUCT_SCHEMA)


def content_vectors(products: pl.DataFrame, dim: int = 16, seed: int = 1) -> np.ndarray:
    """Article type decides the direction, colour adds a little, noise separates products."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((len(ARTICLE_TYPES) + len(COLOURS), dim))
    types = products["article_type"].map_elements(ARTICLE_TYPES.index, return_dtype=pl.Int64).to_numpy()
    colours = products["colour"].map_elements(COLOURS.index, return_dtype=pl.Int64).to_numpy()
    x = 3 * basis[types] + basis[len(ARTICLE_TYPES) + colours] + 0.3 * rng.standard_normal((len(types), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_interactions(products: pl.DataFrame, n_users: int = 25, seed: int = 2) -> pl.DataFrame:
    """Users who mostly pick one article type; user 0 buys a lot, the last user only has test rows."""
    rng = np.random.default_rng(seed)
    ids = products["product_id"].to_list()
    types = products["article_type"].to_list()
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows = []
    for u in range(n_users):
        liked = ARTICLE_TYPES[u % len(ARTICLE_TYPES)]
        pool = [i for i, t in enumerate(types) if t == liked]
        picks = rng.choice(pool, size=min(len(pool), 12 if u == 0 else 4), replace=False)
        for j, item in enumerate(picks):
            split = "test" if u == n_users - 1 else ("train" if j < len(picks) - 1 else "test")
            for event in ("click", "purchase") if j % 2 == 0 else ("click",):
                rows.append({"user_id": f"sim_u{u:06d}", "product_id": ids[item], "event": event, "value": 1.0,
                             "ts": start + timedelta(days=j), "split": split})
    rows.append({"user_id": "sim_u000001", "product_id": "asos:not-in-catalog", "event": "click", "value": 1.0,
                 "ts": start, "split": "train"})
    return pl.DataFrame(rows, schema={"user_id": pl.String, "product_id": pl.String, "event": pl.String,
                                      "value": pl.Float64, "ts": pl.Datetime("us", "UTC"), "split": pl.String})


def toy_styles() -> StyleCatalogue:
    prefs = {"sporty": {"article_type": {"Sports Shoes": 2.0, "Jeans": 0.5}, "usage": {"Sports": 1.0}},
             "smart": {"article_type": {"Shirts": 2.0}, "colour": {"Black": 1.0, "Red": -1.0}}}
    fit_of = {"Men": {"Men": 0.0, "Unisex": -0.3, "Women": -5.0}, "Women": {"Women": 0.0, "Unisex": -0.3, "Men": -5.0}}

    def gender_fit(gender, genders):
        return genders.replace_strict(fit_of[gender], default=-0.7, return_dtype=pl.Float32).fill_null(-0.7).to_numpy()

    def affinity(style, products, gender):
        score = np.zeros(products.height, dtype=np.float32)
        for column, values in prefs[style].items():
            score += products[column].replace_strict(values, default=0.0, return_dtype=pl.Float32).fill_null(0.0).to_numpy()
        return score + (gender_fit(gender, products["gender"]) if gender else 0.0)

    return StyleCatalogue(preferences=prefs, affinity=affinity, gender_fit=gender_fit, genders=("Men", "Women"))


def write_gold_tables(gold_dir, build_id: str = "b1", k: int = 10) -> dict[str, pl.DataFrame]:
    """All five gold tables of the synthetic world written to ``gold_dir`` (for warehouse and CLI tests)."""
    silver = synthetic_products()
    products = build_products(silver, None, None, build_id=build_id)
    ids = IdMap(products["product_id"].to_list())
    vectors = content_vectors(products)
    content = AlignedVectors(vectors, np.ones(len(vectors), bool))
    history = build_history(synthetic_interactions(products), ids)
    tables = {
        "products": products,
        "similar_items": build_similar_items(products, content, exact_search(vectors), history=history,
                                             config=SimilarItemsSettings(k=k), build_id=build_id).table,
        "user_recommendations": _user_lists(products, history, content, k, build_id, gold_dir),
        "style_recommendations": build_style_recommendations(products, toy_styles(), history,
                                                             build_id=build_id).table,
    }
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    tables["builds"] = build_record(build_id, t0, t0 + timedelta(seconds=5), tables, "flat", "test 1")
    for name, df in tables.items():
        storage.write_parquet_atomic(df, gold_dir / f"{name}.parquet")
    return tables


def _user_lists(products, history, content, k: int, build_id: str, gold_dir) -> pl.DataFrame:
    """The user lists, built through a staged file beside the table (written with the others below)."""
    with storage.staged_file(gold_dir / "user_recommendations.parquet") as staging:
        return build_user_recommendations(products, history, content, exact_search(content.vectors),
                                          config=UserRecommendationsSettings(k=k), build_id=build_id,
                                          output=staging).read()
