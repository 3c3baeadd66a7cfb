"""The lake on disk: paths, Parquet tables with atomic replace, the DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl

from assets import keys
from recsys import storage, warehouse

# An asset key of assets/keys.py, or a lake path named there (lake-relative; a table's without .parquet).
LakeLocation = dg.AssetKey | str


class LakeResource(dg.ConfigurableResource):
    """The data lake root (``data_lake/`` by default, ``RECSYS_LAKE_DIR`` to move it)."""

    root: str = "data_lake"

    @property
    def root_path(self) -> Path:
        return Path(self.root).resolve()

    @property
    def raw_dir(self) -> Path:
        return self.root_path / "raw"

    def path(self, where: LakeLocation) -> Path:
        """The file or folder of an asset (or lake path) on disk."""
        return self.root_path / keys.lake_path(where)

    def table_path(self, where: LakeLocation) -> Path:
        """The Parquet file of a table asset (or lake path), e.g. ``silver/products.parquet``."""
        return self.root_path / f"{keys.lake_path(where)}.parquet"

    def has_table(self, where: LakeLocation) -> bool:
        return self.table_path(where).exists()

    def read(self, where: LakeLocation) -> pl.DataFrame:
        return storage.read_parquet(self.table_path(where))

    def read_if_exists(self, where: LakeLocation) -> pl.DataFrame | None:
        return self.read(where) if self.has_table(where) else None

    def write(self, df: pl.DataFrame, where: LakeLocation) -> Path:
        """Replace the table's Parquet file atomically; returns its path."""
        return storage.write_parquet_atomic(df, self.table_path(where))

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the lake-wide lock ``name`` (cross-process): for read-modify-write of one table by
        runs that may overlap (two builds at once must not lose each other's update)."""
        with storage.exclusive_lock(self.path(f".locks/{name}.lock")):
            yield


class WarehouseResource(dg.ConfigurableResource):
    """``warehouse.duckdb`` in the lake: rebuilt and swapped atomically, one builder at a time."""

    root: str = "data_lake"
    filename: str = keys.lake_path(keys.WAREHOUSE)

    @property
    def db_path(self) -> Path:
        return Path(self.root).resolve() / self.filename

    def publish(self, tables: list[warehouse.WarehouseTable]) -> list[str]:
        return warehouse.publish(self.db_path, tables)

    def connect_readonly(self):
        return warehouse.connect_readonly(self.db_path)
