"""benchmarks/compare_builds.py: two builds of the same data compare equal; a changed table does not."""

import json
from datetime import datetime, timezone

import duckdb
import polars as pl
import pytest

from benchmarks import compare_builds


def _tiny_lake(root, build_id: str, started: datetime, score: float = 0.5, reason: str = "looks similar"):
    (root / "gold").mkdir(parents=True)
    (root / "models" / "als").mkdir(parents=True)
    similar = pl.DataFrame({"product_id": ["a", "a"], "rank": [1, 2], "similar_product_id": ["b", "c"],
                            "score": [0.9, score], "reason": ["same article type", reason], "build_id": build_id},
                           schema_overrides={"score": pl.Float32, "rank": pl.Int32})
    similar.write_parquet(root / "gold" / "similar_items.parquet")
    pl.DataFrame({"build_id": [build_id], "started_at": [started], "recomputed": [[f"similar_items@{build_id}"]],
                  "stages": [[{"stage": "gold__evaluation", "seconds": started.second / 10,
                               "outcome": f"kept the evaluation of build {build_id}"}]]}
                 ).write_parquet(root / "gold" / "builds.parquet")
    pl.DataFrame({"product_id": ["b"], "factors": [[0.1, 0.2]]},
                 schema={"product_id": pl.String, "factors": pl.Array(pl.Float32, 2)}
                 ).write_parquet(root / "models" / "als" / "items.parquet")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.register("frame", similar.to_arrow())
    con.execute("CREATE TABLE similar_items AS SELECT * FROM frame")
    con.close()
    return root


def test_two_builds_differing_only_in_ids_timestamps_and_timings_are_the_same(tmp_path):
    a = _tiny_lake(tmp_path / "a", "run-1", datetime(2026, 1, 1, 3, 0, 1, tzinfo=timezone.utc))
    b = _tiny_lake(tmp_path / "b", "run-2", datetime(2026, 1, 2, 3, 0, 7, tzinfo=timezone.utc))
    out = tmp_path / "compare.json"
    assert compare_builds.main([str(a), str(b), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["identical"] and result["tables_compared"] == 4
    assert result["tables"]["gold/similar_items"]["float_max_abs_diff"] == {"score": 0.0}


def test_a_changed_score_or_reason_is_reported_and_fails(tmp_path):
    started = datetime(2026, 1, 1, tzinfo=timezone.utc)
    a = _tiny_lake(tmp_path / "a", "run-1", started)
    b = _tiny_lake(tmp_path / "b", "run-2", started, score=0.25, reason="popular with shoppers")
    out = tmp_path / "compare.json"
    assert compare_builds.main([str(a), str(b), "--out", str(out)]) == 1
    result = json.loads(out.read_text())
    assert result["different_tables"] == ["gold/similar_items", "warehouse/similar_items"]
    table = result["tables"]["gold/similar_items"]
    assert table["float_max_abs_diff"]["score"] == pytest.approx(0.25)
    assert any(d.startswith("reason: 1 rows differ") for d in table["differences"])
    # within a tolerance, only the reason still differs
    assert compare_builds.compare_lakes(a, b, tolerance=0.3)["tables"]["gold/similar_items"]["differences"] == [
        d for d in table["differences"] if d.startswith("reason")]


def test_a_table_missing_from_one_build_is_a_difference(tmp_path):
    started = datetime(2026, 1, 1, tzinfo=timezone.utc)
    a = _tiny_lake(tmp_path / "a", "run-1", started)
    b = _tiny_lake(tmp_path / "b", "run-2", started)
    (b / "models" / "als" / "items.parquet").unlink()
    result = compare_builds.compare_lakes(a, b)
    assert not result["identical"] and result["tables"]["models/als/items"]["differences"] == ["only in A"]
