"""The DuckDB warehouse: one table per gold table, rebuilt as a whole and swapped in atomically.

DuckDB allows one writing process per file and no reader beside it, so the warehouse is never
written in place: a new database file is built beside the old one under an exclusive file lock
(one builder at a time, across processes), then renamed over it. Readers that already hold the
old file keep reading it; new readers open the new one; a failed build leaves the old file.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recsys.storage import exclusive_lock


@dataclass(frozen=True)
class WarehouseTable:
    name: str                   # table name in DuckDB, e.g. "similar_items", "evaluation_metrics"
    parquet: Path               # file or folder of Parquet files
    order_by: Sequence[str] = ()  # sort for point lookups (zone maps make filters on these cheap)
    # Columns with an index (DuckDB's ART): an equality lookup on one of them reads the matching
    # rows instead of scanning. Ids stay plain VARCHAR for every client; zone maps alone do not help
    # them, since DuckDB keeps only an 8-byte prefix of a string's min/max and ids share theirs
    # ("myntra_styles:...").
    index_columns: Sequence[str] = ()


def _parquet_source(path: Path) -> str:
    path = Path(path)
    pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    return f"read_parquet('{pattern.replace(chr(39), chr(39) * 2)}', hive_partitioning = {str(path.is_dir()).lower()})"


def publish(db_path: Path, tables: Mapping[str, WarehouseTable] | Sequence[WarehouseTable],
            keep_existing: bool = True) -> list[str]:
    """Rebuild the warehouse with ``tables`` and swap it in atomically; returns the table names.

    With ``keep_existing`` the tables of the current warehouse that are not being replaced are
    copied over, so stages can publish their own tables independently.
    """
    db_path = Path(db_path)
    items = list(tables.values()) if isinstance(tables, Mapping) else list(tables)
    with exclusive_lock(db_path.with_name(db_path.name + ".lock")):
        tmp = db_path.with_name(f".{db_path.name}.{uuid.uuid4().hex}.tmp")
        try:
            con = duckdb.connect(str(tmp))
            try:
                names = {t.name for t in items}
                if keep_existing and db_path.exists():
                    con.execute(f"ATTACH '{db_path}' AS previous (READ_ONLY)")
                    old = [r[0] for r in con.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'previous'").fetchall()]
                    for name in old:
                        if name not in names:
                            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM previous."{name}"')
                    con.execute("DETACH previous")
                for table in items:
                    order = f" ORDER BY {', '.join(table.order_by)}" if table.order_by else ""
                    con.execute(f'CREATE TABLE "{table.name}" AS SELECT * FROM {_parquet_source(table.parquet)}{order}')
                    for column in table.index_columns:
                        con.execute(f'CREATE INDEX "{table.name}__{column}" ON "{table.name}" ("{column}")')
                con.execute("CHECKPOINT")
                published = sorted(r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
            finally:
                con.close()
            os.replace(tmp, db_path)
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return published


def connect_readonly(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection; raises a clear error when the warehouse has not been built."""
    if not Path(db_path).exists():
        raise FileNotFoundError(f"{db_path} does not exist yet: run the pipeline (see README) to build it")
    return duckdb.connect(str(db_path), read_only=True)


def first_key(con: duckdb.DuckDBPyConnection, table: str, column: str):
    """Some value of ``column`` in ``table`` (None when it is empty): a key to query the table with."""
    rows = con.execute(f'SELECT "{column}" FROM "{table}" LIMIT 1').fetchall()
    return rows[0][0] if rows else None


def lookup_milliseconds(con: duckdb.DuckDBPyConnection, query: str, samples: int = 50) -> list[float]:
    """How long ``query`` (one ``?``: a product id) takes for ``samples`` products drawn with a fixed
    seed: the point-lookup latency a reader of the warehouse sees, in milliseconds."""
    sample = f"SELECT product_id FROM products USING SAMPLE {int(samples)} ROWS (reservoir, 1)"
    products = con.execute(sample).fetchall()
    timings = []
    for (product_id,) in products:
        started = time.perf_counter()
        con.execute(query, [product_id]).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    return timings
