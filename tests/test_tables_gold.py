"""Gold table builders on a synthetic catalog: completeness, exclusions, order, reasons, schemas."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from recsys import storage
from recsys.gold import (
    GOLD_TABLES,
    SimilarItemsSettings,
    UserRecommendationsSettings,
    UserSpace,
    append_build,
    build_products,
    build_record,
    build_similar_items,
    build_style_recommendations,
    build_user_recommendations,
)
from recsys.gold.checks import ListTableQueries
from recsys.gold.list_files import ListFileWriter
from recsys.gold.list_refresh import PreviousLists
from recsys.index import IdMap
from recsys.recommend import build_history
from recsys.topk import Exclusions, blocked_topk, exact_search
from recsys.vectors import AlignedVectors
from tests.gold_world import content_vectors, synthetic_interactions, synthetic_products, toy_styles

@pytest.fixture(scope="module")
def world():
    silver = synthetic_products()
    images = pl.DataFrame({"product_id": silver["product_id"][::2], "image_path": [f"images/aa/{i}.jpg" for i in range(45)],
                           "sha256": ["x"] * 45})
    embeddings = pl.DataFrame({"product_id": silver["product_id"], "has_text": [True] * (silver.height - 1) + [False]})
    products = build_products(silver, images, embeddings, build_id="b1")
    ids = IdMap(products["product_id"].to_list())
    vectors = content_vectors(products)
    content = AlignedVectors(vectors, np.ones(len(vectors), bool))
    interactions = synthetic_interactions(products)
    history = build_history(interactions, ids)
    return {"products": products, "ids": ids, "content": content, "search": exact_search(vectors),
            "history": history, "interactions": interactions}


def test_products_add_image_path_flags_and_price_bands(world):
    products = world["products"]
    assert list(products.columns) == list(GOLD_TABLES["products"].schema)
    assert products["product_id"].is_sorted()
    assert products["has_image"].sum() == 45
    assert products.filter(pl.col("has_image"))["image_path"].null_count() == 0
    assert products["has_text"].sum() == products.height - 1
    priced = products.filter(pl.col("price").is_not_null())
    assert priced["price_band"].null_count() == 0 and set(priced["price_band"]) == {"low", "mid", "high"}
    assert products.filter(pl.col("price").is_null())["price_band"].null_count() == products["price"].null_count()
    # bands are per currency: each currency has its own low and high
    per_currency = priced.group_by("currency").agg(pl.col("price_band").n_unique())
    assert per_currency["price_band"].min() == 3
    without_embeddings = build_products(synthetic_products(), None, None, build_id="b1")
    assert not without_embeddings["has_image"].any() and without_embeddings["has_text"].all()


def check_ranked_lists(table: pl.DataFrame, key: str, item: str, expected_per_key: int | None) -> None:
    """Ranks 1..n (n = expected_per_key when given), distinct items, scores non-increasing, reasons."""
    grouped = table.group_by(key, maintain_order=True).agg(
        pl.col("rank"), pl.col("score"), pl.col(item).n_unique().alias("distinct"))
    for ranks, scores, distinct in zip(grouped["rank"], grouped["score"], grouped["distinct"]):
        n = expected_per_key or len(ranks)
        assert ranks.to_list() == list(range(1, n + 1))
        assert distinct == n
        assert all(a >= b for a, b in zip(scores, scores[1:]))
    assert table["reason"].null_count() == 0 and (table["reason"].str.len_chars() > 0).all()


@pytest.mark.parametrize("k", [10, 200])
def test_similar_items_cover_every_product_without_self(world, k):
    products = world["products"]
    built = build_similar_items(products, world["content"], world["search"], history=world["history"],
                                config=SimilarItemsSettings(k=k), build_id="b1")
    table = built.table
    assert list(table.columns) == list(GOLD_TABLES["similar_items"].schema)
    assert set(table["product_id"]) == set(products["product_id"])
    assert (table["product_id"] != table["similar_product_id"]).all()
    check_ranked_lists(table, "product_id", "similar_product_id", min(k, products.height - 1))
    assert table.select(pl.col("product_id"), pl.col("rank")).equals(table.sort("product_id", "rank").select("product_id", "rank"))
    assert set(table["model"]) == {"hybrid"}
    assert "same article type and colour" in set(table["reason"])


def test_content_only_similar_items_equal_exact_top_k(world):
    products, content = world["products"], world["content"]
    built = build_similar_items(products, content, world["search"],
                                config=SimilarItemsSettings(k=5, weights={"content": 1.0}), build_id="b1")
    assert set(built.table["model"]) == {"content"}
    exact = blocked_topk(content.vectors, 5, exact_search(content.vectors), Exclusions.own_position(products.height))
    ids = products["product_id"].to_numpy()
    expected = {ids[q]: ids[exact.positions[q]].tolist() for q in range(products.height)}
    got = built.table.group_by("product_id").agg(pl.col("similar_product_id").sort_by("rank"))
    assert {r[0]: r[1] for r in got.iter_rows()} == expected


def spaces_for(world, dim: int = 8, seed: int = 3):
    """Random two-tower and ALS spaces; ALS knows only the first two thirds of users and items."""
    rng = np.random.default_rng(seed)
    n_items, n_users = world["products"].height, world["history"].n_users

    def space(known_users, known_items):
        return UserSpace(AlignedVectors(rng.standard_normal((n_users, dim)).astype(np.float32), known_users),
                         AlignedVectors(rng.standard_normal((n_items, dim)).astype(np.float32), known_items))

    tower = space(np.ones(n_users, bool), np.ones(n_items, bool))
    als = space(np.arange(n_users) < 2 * n_users // 3, np.arange(n_items) < 2 * n_items // 3)
    return tower, als


def test_similar_items_use_tower_and_als_spaces(world):
    tower, als = spaces_for(world)
    built = build_similar_items(world["products"], world["content"], world["search"], tower=tower.items,
                                als=als.items, history=world["history"],
                                config=SimilarItemsSettings(k=10, weights={"content": 1.0, "two_tower": 1.0,
                                                                           "als": 1.0, "popularity": 0.1}),
                                build_id="b1")
    reasons = set(built.table["reason"])
    assert reasons & {"fits what similar shoppers like"}
    assert reasons & {"liked by the same shoppers", "often bought together"}
    check_ranked_lists(built.table, "product_id", "similar_product_id", 10)


def test_user_recommendations_cover_every_user_and_exclude_owned_items(world, tmp_path):
    history, products = world["history"], world["products"]
    tower, als = spaces_for(world)
    built = build_user_recommendations(products, history, world["content"], world["search"], tower=tower, als=als,
                                       config=UserRecommendationsSettings(k=15), build_id="b1",
                                       output=tmp_path / "users.parquet")
    table = built.read()
    assert list(table.columns) == list(GOLD_TABLES["user_recommendations"].schema)
    assert set(table["user_id"]) == set(world["interactions"]["user_id"])
    check_ranked_lists(table, "user_id", "product_id", 15)
    owned = world["interactions"].select("user_id", "product_id").unique()
    assert table.join(owned, on=["user_id", "product_id"], how="inner").is_empty()
    models = dict(table.select("user_id", "model").unique().iter_rows())
    assert set(models.values()) == {"hybrid"}
    anchored = table.filter(pl.col("reason").str.starts_with("looks like") | pl.col("reason").str.starts_with("similar to"))
    assert anchored.height > 0


def test_user_recommendations_do_not_depend_on_how_many_users_a_block_takes(world, tmp_path):
    """Users go from search to table rows a block at a time (a million users' candidates never sit in
    memory at once): any block size gives the same table and list state, built from scratch or
    refreshed from a previous build, and the refresh still equals a full rebuild."""
    history, products = world["history"], world["products"]
    tower, als = spaces_for(world)

    def build(users_per_block, content, previous=None, build_id="b1"):
        output = tmp_path / f"users-{build_id}-{users_per_block}-{len(list(tmp_path.iterdir()))}.parquet"
        return build_user_recommendations(products, history, content, exact_search(content.vectors), tower=tower,
                                          als=als, build_id=build_id, previous=previous, output=output,
                                          config=UserRecommendationsSettings(k=10, candidates_per_source=20,
                                                                           users_per_block=users_per_block))

    def same(a, b):
        assert a.read().sort("user_id", "rank").equals(b.read().sort("user_id", "rank"))
        for name, proposals in a.state.ranked.items():
            assert np.array_equal(proposals.positions, b.state.ranked[name].positions), name
            assert np.array_equal(proposals.scores, b.state.ranked[name].scores), name

    whole, blocked = build(1 << 20, world["content"]), build(4, world["content"])
    assert whole.plan.full and history.n_users > 4
    same(blocked, whole)
    assert blocked.read().equals(blocked.read().sort("user_id", "rank"))      # in lookup order, as built
    whole.state.table_digest = "t"
    previous = PreviousLists.open(whole.path, whole.state, "t")
    # Three products nobody owns and one that a few users own trade content: its owners are searched
    # again, the lists that lose or gain a moved product are re-ranked from their kept proposals.
    owners = np.bincount(history.owned.indices, minlength=products.height)
    moved_items = [*np.flatnonzero(owners == 0)[:3], int(np.flatnonzero(owners > 0)[0])]
    vectors = world["content"].vectors.copy()
    vectors[moved_items] = vectors[np.roll(moved_items, 1)]
    moved = AlignedVectors(vectors, world["content"].known)
    refreshed, refreshed_blocked = build(1 << 20, moved, previous, "b2"), build(4, moved, previous, "b2")
    counts = refreshed.plan.counts
    assert not refreshed.plan.full and counts["searched"] > 0 and counts["reranked"] > 0, counts
    same(refreshed_blocked, refreshed)
    assert refreshed_blocked.read().equals(refreshed_blocked.read().sort("user_id", "rank"))
    rebuilt = build(1 << 20, moved, build_id="b2").read().sort("user_id", "rank")
    assert refreshed_blocked.read().sort("user_id", "rank").select("user_id", "product_id", "reason").equals(
        rebuilt.select("user_id", "product_id", "reason"))


def test_user_with_no_usable_history_gets_popular_items(world, tmp_path):
    history = build_history(world["interactions"], world["ids"], splits=["train"],
                            users=world["interactions"]["user_id"].unique().to_list())
    cold = "sim_u000024"                                   # only test rows
    built = build_user_recommendations(world["products"], history, world["content"], world["search"],
                                       config=UserRecommendationsSettings(k=5), build_id="b1",
                                       output=tmp_path / "users.parquet")
    rows = built.read().filter(pl.col("user_id") == cold)
    assert rows.height == 5 and set(rows["model"]) == {"popularity"}
    assert set(rows["reason"]) == {"popular with shoppers"}
    top = np.argsort(-history.popularity, kind="stable")[:5]
    assert rows["product_id"].to_list() == world["products"]["product_id"].gather(top).to_list()


def test_style_recommendations_per_style_and_gender(world):
    products = world["products"]
    built = build_style_recommendations(products, toy_styles(), world["history"], build_id="b1")
    table = built.table
    assert list(table.columns) == list(GOLD_TABLES["style_recommendations"].schema)
    combos = set(table.select("style", "gender").unique().iter_rows())
    assert combos == {(s, g) for s in ("sporty", "smart") for g in (None, "Men", "Women")}
    check_ranked_lists(table.with_columns(key=pl.concat_str("style", pl.col("gender").fill_null("-"))), "key",
                       "product_id", None)
    assert table.group_by("style", "gender").len()["len"].max() == 50
    genders = table.join(products.select("product_id", pl.col("gender").alias("product_gender")), on="product_id")
    assert genders.filter(pl.col("gender") == "Men", pl.col("product_gender") == "Women").is_empty()
    assert genders.filter(pl.col("gender") == "Women", pl.col("product_gender") == "Men").is_empty()
    top_sporty = table.filter(pl.col("style") == "sporty", pl.col("gender").is_null(), pl.col("rank") <= 3)
    assert top_sporty.join(products, on="product_id")["article_type"].to_list() == ["Sports Shoes"] * 3
    assert any(r.startswith("sporty style: Sports Shoes") for r in top_sporty["reason"])
    # Every row is there for a true reason: a liked attribute, or shoppers of that style chose it.
    liked = {"sporty": {"Sports Shoes", "Jeans", "Sports"}, "smart": {"Shirts", "Black"}}
    rows = table.join(products.select("product_id", "article_type", "colour", "usage"), on="product_id")
    for style, reason, *values in rows.select("style", "reason", "article_type", "colour", "usage").iter_rows():
        if reason.startswith(f"{style} style: "):
            assert set(reason.removeprefix(f"{style} style: ").split(", ")) <= liked[style] & set(values)
        else:
            assert reason == f"popular with {style} style"
    assert table.filter(pl.col("reason").str.starts_with("popular with")).height > 0


def test_style_recommendations_without_history_use_fit_alone(world):
    table = build_style_recommendations(world["products"], toy_styles(), None, build_id="b1").table
    assert table["reason"].str.contains(" style: ").all()
    # Only products with a liked attribute qualify: fewer than 50 for "smart" in this catalog.
    assert table.filter(pl.col("style") == "smart", pl.col("gender").is_null()).height == \
        world["products"].filter((pl.col("article_type") == "Shirts") | (pl.col("colour") == "Black")).height


def test_builds_record_recomputed_and_reused_tables(world, tmp_path):
    products = world["products"]
    similar = build_similar_items(products, world["content"], world["search"], config=SimilarItemsSettings(k=3),
                                  build_id="b2").table
    users = build_user_recommendations(products, world["history"], world["content"], world["search"],
                                       config=UserRecommendationsSettings(k=3), build_id="b2",
                                       output=tmp_path / "users.parquet").read()
    styles = build_style_recommendations(products, toy_styles(), None, build_id="b1").table
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    record = build_record("b2", t0, t0 + timedelta(minutes=3), {"products": products, "similar_items": similar,
                          "user_recommendations": users, "style_recommendations": styles},
                          index_kind="flat", vector_model="test 1")
    row = record.row(0, named=True)
    # Read from the published files (streamed by DuckDB, as the asset does) the record is the same.
    frames = {"products": products, "similar_items": similar, "user_recommendations": users,
              "style_recommendations": styles}
    files = {name: storage.write_parquet_atomic(frame, tmp_path / f"{name}.parquet") for name, frame in frames.items()}
    assert build_record("b2", t0, t0 + timedelta(minutes=3), files, index_kind="flat", vector_model="test 1").equals(record)
    assert row["users"] == users["user_id"].n_unique() and row["user_recommendations_rows"] == users.height
    assert row["recomputed"] == ["similar_items", "user_recommendations"]
    assert row["reused"] == ["products@b1", "style_recommendations@b1"]
    assert row["similar_items_coverage"] == 1.0 and row["products"] == products.height
    builds = append_build(append_build(None, record.with_columns(build_id=pl.lit("b1"))), record)
    assert builds["build_id"].to_list() == ["b1", "b2"]
    assert append_build(builds, record).height == 2
    # A builds table written before the change columns existed keeps its rows, with nulls there.
    old = builds.drop("new_products", "changed_products", "removed_products", "stages").filter(pl.col("build_id") == "b1")
    upgraded = append_build(old, record)
    assert upgraded["build_id"].to_list() == ["b1", "b2"] and upgraded["stages"][0] is None


def test_gold_parquet_reads_in_polars_and_pandas_with_zstd_row_groups(world, tmp_path):
    import pyarrow.parquet as pq

    table = build_similar_items(world["products"], world["content"], world["search"], build_id="b1").table
    path = storage.write_parquet_atomic(table, tmp_path / "similar_items.parquet")
    assert pl.read_parquet(path).equals(table)
    frame = pd.read_parquet(path)
    assert len(frame) == table.height and list(frame.columns) == table.columns
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert meta.row_group(0).column(0).statistics.has_min_max


def test_nearest_owned_matches_brute_force(world):
    from recsys.gold.user_recommendations import nearest_owned

    history, content = world["history"], world["content"]
    rng = np.random.default_rng(4)
    users = rng.integers(0, history.n_users, 300)
    items = rng.integers(0, len(content.vectors), 300)
    got = nearest_owned(history, users, items, content, chunk_elements=16)      # many small chunks
    for u, i, anchor in zip(users, items, got):
        own = history.items_of(u)
        sims = content.vectors[own] @ content.vectors[i]
        assert anchor == (own[np.argmax(sims)] if len(own) else -1)


def test_user_lists_are_written_a_block_at_a_time_and_refreshed_from_the_file_in_slices(world, tmp_path,
                                                                                         monkeypatch):
    """A million users' lists (50M rows) are never whole in memory: each block of users goes to the
    file as it finishes, and a refresh copies the carried-over lists from the previous file a row group
    at a time (the previous table is never read whole)."""
    history, products = world["history"], world["products"]
    tower, als = spaces_for(world)
    settings = UserRecommendationsSettings(k=10, candidates_per_source=20, users_per_block=4)
    written = []
    real_write = ListFileWriter.write
    monkeypatch.setattr(ListFileWriter, "write", lambda self, rows: (written.append(rows.height),
                                                                     real_write(self, rows))[1])

    def build(build_id, user_tower, previous=None):
        return build_user_recommendations(products, history, world["content"], world["search"], tower=user_tower,
                                          als=als, build_id=build_id, previous=previous, config=settings,
                                          output=tmp_path / f"users-{build_id}.parquet")

    first = build("b1", tower)
    groups = pq.ParquetFile(first.path).metadata
    assert max(written) <= 4 * 10 and sum(written) == first.read().height
    assert groups.num_row_groups >= history.n_users // 4
    assert max(groups.row_group(g).num_rows for g in range(groups.num_row_groups)) <= 4 * 10

    def whole_read(*args, **kwargs):
        raise AssertionError("the previous user lists were read whole")

    monkeypatch.setattr(pq.ParquetFile, "read", whole_read)
    monkeypatch.setattr(pq, "read_table", whole_read)
    monkeypatch.setattr(pl, "read_parquet", whole_read)
    first.state.table_digest = "t"
    # Two users' two-tower vectors move: their lists are searched again, the others' copied.
    moved_vectors = tower.users.vectors.copy()
    moved_vectors[[5, 13]] = moved_vectors[[13, 5]] + 0.5
    moved = UserSpace(AlignedVectors(moved_vectors, tower.users.known), tower.items)
    written.clear()
    refreshed = build("b2", moved, PreviousLists.open(first.path, first.state, "t"))
    counts = refreshed.plan.counts
    assert 0 < counts["carried_over"] < history.n_users, counts
    assert max(written) <= 4 * 10
    monkeypatch.undo()
    table, rebuilt = refreshed.read(), build("b3", moved).read()
    assert table.equals(table.sort("user_id", "rank"))
    assert table.drop("build_id").equals(rebuilt.drop("build_id"))
    carried = table.filter(pl.col("build_id") == "b1")
    assert carried["user_id"].n_unique() == counts["carried_over"]
    assert carried.equals(first.read().filter(pl.col("user_id").is_in(carried["user_id"].unique().implode())))


def test_list_checks_read_the_written_file(tmp_path):
    """The checks of a list table ask DuckDB about the file: missing users, owned items listed, lists
    whose ranks skip or whose scores rise."""
    table = pl.DataFrame({"user_id": ["a", "a", "b", "b", "c", "c"], "rank": [1, 2, 1, 3, 1, 2],
                          "product_id": ["p1", "p2", "p1", "p3", "p2", "p3"],
                          "score": [0.9, 0.5, 0.9, 0.1, 0.2, 0.7], "reason": ["r"] * 6, "model": ["hybrid"] * 6})
    path = storage.write_parquet_atomic(table, tmp_path / "users.parquet")
    owned = pl.DataFrame({"user_id": ["a", "c"], "product_id": ["p2", "p9"]})
    with ListTableQueries(path, "user_id", "product_id") as lists:
        assert lists.missing_keys(["a", "b", "c", "d", "e"]) == ["d", "e"]
        assert lists.owned_rows(owned) == 1
        assert lists.broken_lists() == 2            # b skips rank 2, c's score rises
        assert lists.rows() == 6 and lists.distinct("product_id") == 3
        assert lists.sample_lists(lists=3, rows=1)["user_id"].to_list() == ["a", "b", "c"]
