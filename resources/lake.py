"""The lake on disk: paths, Parquet tables with atomic replace, the DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl

from recsys import storage, warehouse


class LakeResource(dg.ConfigurableResource):
    """The data lake root (``data_lake/`` by default, ``RECSYS_LAKE_DIR`` to move it)."""

    root: str = "data_lake"

    @property
    def root_path(self) -> Path:
        return Path(self.root).resolve()

    @property
    def raw_dir(self) -> Path:
        return self.root_path / "raw"

    def path(self, rel: str) -> Path:
        return self.root_path / rel

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def read_table(self, rel: str) -> pl.DataFrame:
        """``rel`` without the .parquet suffix, e.g. ``silver/products``."""
        return storage.read_parquet(self.path(f"{rel}.parquet"))

    def read_table_if_exists(self, rel: str) -> pl.DataFrame | None:
        return self.read_table(rel) if self.exists(f"{rel}.parquet") else None

    def write_table(self, df: pl.DataFrame, rel: str) -> Path:
        """Replace ``<rel>.parquet`` atomically; returns its path."""
        return storage.write_parquet_atomic(df, self.path(f"{rel}.parquet"))

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the lake-wide lock ``name`` (cross-process): for read-modify-write of one table by
        runs that may overlap (two builds at once must not lose each other's update)."""
        with storage.exclusive_lock(self.path(f".locks/{name}.lock")):
            yield


class WarehouseResource(dg.ConfigurableResource):
    """``warehouse.duckdb`` in the lake: rebuilt and swapped atomically, one builder at a time."""

    root: str = "data_lake"
    filename: str = "warehouse.duckdb"

    @property
    def db_path(self) -> Path:
        return Path(self.root).resolve() / self.filename

    def publish(self, tables: list[warehouse.WarehouseTable]) -> list[str]:
        return warehouse.publish(self.db_path, tables)

    def connect_readonly(self):
        return warehouse.connect_readonly(self.db_path)
