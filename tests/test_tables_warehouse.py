"""The DuckDB warehouse over the gold tables: README queries, sorted point lookups, atomic replacement."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from tests.gold_world import write_gold_tables

from recsys import storage, warehouse
from recsys.gold import gold_warehouse_tables
from recsys.gold import queries as sql


@pytest.fixture
def lake(tmp_path):
    tables = write_gold_tables(tmp_path / "gold")
    warehouse.publish(tmp_path / "warehouse.duckdb", gold_warehouse_tables(tmp_path / "gold"))
    return tmp_path, tables


def test_every_gold_table_is_a_warehouse_table_sorted_for_lookups(lake):
    root, tables = lake
    con = warehouse.connect_readonly(root / "warehouse.duckdb")
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert names == set(tables)
    for name, df in tables.items():
        assert con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] == df.height
    ids = [r[0] for r in con.execute("SELECT product_id FROM similar_items").fetchall()]
    assert ids == sorted(ids)
    users = [r[0] for r in con.execute("SELECT user_id FROM user_recommendations").fetchall()]
    assert users == sorted(users)


def test_readme_queries_answer_with_reasons(lake):
    root, tables = lake
    con = warehouse.connect_readonly(root / "warehouse.duckdb")
    products = tables["products"]
    priced = products.filter(pl.col("price").is_not_null(), pl.col("gender").is_not_null())
    query_product = priced["product_id"][0]
    similar = con.sql(sql.SIMILAR_ITEMS, params=[query_product, 10]).pl()
    assert similar["rank"].to_list() == list(range(1, 11))
    assert similar["reason"].null_count() == 0 and similar["name"].null_count() == 0

    gender = priced["gender"][0]
    cheap = con.sql(sql.SIMILAR_SAME_GENDER_UNDER_PRICE, params=[query_product, 2000.0]).pl()
    expected = (tables["similar_items"].filter(pl.col("product_id") == query_product)
                .join(products, left_on="similar_product_id", right_on="product_id")
                .filter(pl.col("gender") == gender, pl.col("price") < 2000.0).sort("rank").head(10))
    assert cheap["product_id"].to_list() == expected["similar_product_id"].to_list()
    assert (cheap["gender"] == gender).all() and (cheap["price"] < 2000).all()

    user = tables["user_recommendations"]["user_id"][0]
    recs = con.sql(sql.USER_RECOMMENDATIONS, params=[user, 5]).pl()
    assert recs.height == 5 and recs["reason"].null_count() == 0 and set(recs["model"]) <= {"hybrid", "content",
                                                                                            "popularity"}
    for gender in (None, "Men"):
        style = con.sql(sql.STYLE_RECOMMENDATIONS, params=["sporty", gender, 5]).pl()
        assert style.height == 5 and style["reason"].str.contains("sporty").all()
        if gender:
            assert set(style["gender"]) <= {"Men", "Unisex", None}


def test_evaluation_tables_are_published_when_present(tmp_path):
    write_gold_tables(tmp_path / "gold")
    metrics = pl.DataFrame({"model": ["hybrid"], "task": ["user_recommendations"], "slice": ["all"],
                            "metric": ["ndcg"], "k": [10], "value": [0.3], "n_queries": [5], "build_id": ["b1"]})
    storage.write_parquet_atomic(metrics, tmp_path / "gold" / "evaluation" / "metrics.parquet")
    names = warehouse.publish(tmp_path / "warehouse.duckdb", gold_warehouse_tables(tmp_path / "gold"))
    assert "evaluation_metrics" in names


def test_missing_gold_table_is_a_clear_error(tmp_path):
    write_gold_tables(tmp_path / "gold")
    (tmp_path / "gold" / "builds.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="builds"):
        gold_warehouse_tables(tmp_path / "gold")


def snapshot(db) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()}
    finally:
        con.close()


def test_failed_rebuild_leaves_previous_parquet_and_warehouse_unchanged(lake, monkeypatch):
    root, _ = lake
    db = root / "warehouse.duckdb"
    before_db = snapshot(db)
    before_files = {p.name: p.read_bytes() for p in (root / "gold").glob("*.parquet")}
    reader = warehouse.connect_readonly(db)          # a reader that stays open across the failed build

    # 1. A gold table write that dies midway: the old file stays, no temp file is left behind.
    real_write = pl.DataFrame.write_parquet

    def dies_midway(self, file, *args, **kwargs):
        real_write(self.head(3), file, *args, **kwargs)
        raise OSError("killed while writing")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", dies_midway)
    with pytest.raises(OSError):
        write_gold_tables(root / "gold", build_id="b2")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in (root / "gold").glob("*.parquet")} == before_files
    assert not [p for p in (root / "gold").iterdir() if p.name.startswith(".")]

    # 2. A warehouse publish that fails on its last table: the old database is untouched.
    write_gold_tables(root / "gold", build_id="b2")
    (root / "gold" / "builds.parquet").write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error):
        warehouse.publish(db, gold_warehouse_tables(root / "gold"))
    assert snapshot(db) == before_db
    assert reader.execute("SELECT DISTINCT build_id FROM similar_items").fetchall() == [("b1",)]
    assert not [p for p in root.iterdir() if p.name.startswith(".warehouse")]

    # 3. The next good build replaces everything at once. (DuckDB shares one database instance per
    # path inside a process, so the old reader is closed first to let this process see the new file.)
    reader.close()
    write_gold_tables(root / "gold", build_id="b3")
    warehouse.publish(db, gold_warehouse_tables(root / "gold"))
    con = warehouse.connect_readonly(db)
    for table in ("products", "similar_items", "user_recommendations", "style_recommendations", "builds"):
        assert con.execute(f"SELECT DISTINCT build_id FROM {table}").fetchall() == [("b3",)]


def test_ids_are_plain_strings_lookups_use_an_index_and_unknown_ids_just_return_nothing(lake):
    root, tables = lake
    con = warehouse.connect_readonly(root / "warehouse.duckdb")
    types = dict(con.execute("SELECT table_name || '.' || column_name, data_type FROM duckdb_columns() "
                             "WHERE column_name IN ('product_id', 'similar_product_id', 'user_id')").fetchall())
    assert set(types.values()) == {"VARCHAR"} and len(types) == 6
    for table, column in (("products", "product_id"), ("similar_items", "product_id"),
                          ("user_recommendations", "user_id")):
        key = con.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]
        plan = con.execute(f"EXPLAIN ANALYZE SELECT * FROM {table} WHERE {column} = ?", [key]).fetchall()[0][1]
        assert "Index Scan" in plan, table
    assert con.sql(sql.SIMILAR_ITEMS, params=["asos:not-a-product", 10]).pl().is_empty()
    assert con.sql("SELECT count(*) AS n FROM similar_items WHERE product_id LIKE 'asos:%'").pl()["n"][0] == \
        tables["similar_items"].filter(pl.col("product_id").str.starts_with("asos:")).height
    # Sorted by id, so a client scanning a range reads neighbouring rows.
    ids = [r[0] for r in con.execute("SELECT product_id FROM products").fetchall()]
    assert ids == sorted(ids)
