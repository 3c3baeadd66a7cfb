"""Atomic Parquet replacement and the DuckDB warehouse's atomic, single-writer rebuild."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import polars as pl
import pytest

from recsys import storage
from recsys.warehouse import WarehouseTable, connect_readonly, publish


def test_failed_write_leaves_the_previous_table(tmp_path: Path, monkeypatch):
    path = tmp_path / "gold" / "t.parquet"
    storage.write_parquet_atomic(pl.DataFrame({"a": [1, 2]}), path)

    def broken_write(self, file, **kwargs):
        Path(file).write_bytes(b"half a parquet file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken_write)
    with pytest.raises(OSError):
        storage.write_parquet_atomic(pl.DataFrame({"a": [3]}), path)
    monkeypatch.undo()
    assert storage.read_parquet(path)["a"].to_list() == [1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["t.parquet"]  # no temp file left behind


def test_read_missing_table_says_what_to_do(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="materialize"):
        storage.read_parquet(tmp_path / "nope.parquet")


def _table(tmp_path: Path, name: str, values: list[int]) -> WarehouseTable:
    path = storage.write_parquet_atomic(pl.DataFrame({"product_id": [str(v) for v in values], "v": values}),
                                        tmp_path / "gold" / f"{name}.parquet")
    return WarehouseTable(name, path, order_by=("product_id",))


def test_publish_builds_sorted_tables_and_keeps_the_others(tmp_path: Path):
    db = tmp_path / "warehouse.duckdb"
    assert publish(db, [_table(tmp_path, "a", [3, 1, 2]), _table(tmp_path, "b", [5])]) == ["a", "b"]
    assert publish(db, [_table(tmp_path, "b", [6, 7])]) == ["a", "b"]
    con = connect_readonly(db)
    assert con.sql("SELECT product_id FROM a").pl()["product_id"].to_list() == ["1", "2", "3"]
    assert con.sql("SELECT count(*) FROM b").pl().item() == 2


def test_reader_keeps_a_consistent_view_while_the_warehouse_is_replaced(tmp_path: Path):
    db = tmp_path / "warehouse.duckdb"
    publish(db, [_table(tmp_path, "a", [1, 2, 3])])
    reader = connect_readonly(db)
    publish(db, [_table(tmp_path, "a", [9])])
    assert reader.sql("SELECT count(*) FROM a").pl().item() == 3  # the old file, whole
    # DuckDB shares one database instance per path within a process, so a fresh reader is
    # another process (as a user's app or the CLI would be).
    count = subprocess.run(
        [sys.executable, "-c", f"import duckdb; print(duckdb.connect({str(db)!r}, read_only=True)"
                               ".sql('SELECT count(*) FROM a').pl().item())"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert count == "1"


def test_failed_publish_leaves_the_previous_warehouse(tmp_path: Path):
    db = tmp_path / "warehouse.duckdb"
    publish(db, [_table(tmp_path, "a", [1])])
    with pytest.raises(duckdb.Error):
        publish(db, [WarehouseTable("b", tmp_path / "gold" / "missing.parquet")])
    assert connect_readonly(db).sql("SELECT count(*) FROM a").pl().item() == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_concurrent_publishers_serialize(tmp_path: Path):
    db = tmp_path / "warehouse.duckdb"
    tables = [_table(tmp_path, f"t{i}", list(range(i + 1))) for i in range(6)]
    errors: list[BaseException] = []

    def run(table: WarehouseTable) -> None:
        try:
            publish(db, [table])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in tables]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    con = connect_readonly(db)
    assert [con.sql(f"SELECT count(*) FROM t{i}").pl().item() for i in range(6)] == [1, 2, 3, 4, 5, 6]


def _folder(root: Path, token: str) -> Path:
    build = storage.staging_dir(root / "model")
    for name in ("config.json", "weights.bin"):
        (build / name).write_text(token)
    return build


def test_a_folder_swap_waits_for_its_reader(tmp_path: Path):
    target = tmp_path / "model"
    storage.replace_dir_atomic(_folder(tmp_path, "old"), target)
    swap = threading.Thread(target=storage.replace_dir_atomic, args=(_folder(tmp_path, "new"), target))
    with storage.reading_dir(target):
        first = (target / "config.json").read_text()
        swap.start()
        swap.join(timeout=0.5)
        assert swap.is_alive(), "the swap did not wait for the reader"
        assert (target / "weights.bin").read_text() == first == "old"
    swap.join()
    assert (target / "config.json").read_text() == "new"


def test_readers_never_see_a_half_swapped_folder(tmp_path: Path):
    target = tmp_path / "model"
    storage.replace_dir_atomic(_folder(tmp_path, "0"), target)
    done = threading.Event()

    def swap_many() -> None:
        for round_ in range(1, 200):
            storage.replace_dir_atomic(_folder(tmp_path, str(round_)), target)
        done.set()

    writer = threading.Thread(target=swap_many)
    writer.start()
    seen = []
    while not done.is_set():
        with storage.reading_dir(target):
            seen.append(((target / "config.json").read_text(), (target / "weights.bin").read_text()))
    writer.join()
    assert all(config == weights for config, weights in seen)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".old", ".tmp"))]


def test_reading_a_folder_of_a_read_only_lake_needs_no_lock(tmp_path: Path):
    target = tmp_path / "missing" / "model"
    with storage.reading_dir(target) as folder:
        assert folder == target and not target.parent.exists()
