"""A list table written as it is built: blocks of rows appended to a Parquet file in table order, and
the previous file's carried-over lists copied from it a row group at a time.

A million users' lists are 50M rows; neither the new table nor the previous one is ever whole in
memory: what a build holds at once is one block of rows (and one row group of the previous file).
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recsys import storage
from recsys.gold.schemas import GoldTable, conform


class ListFileWriter:
    """Rows of one list table appended to ``path`` block by block (each block already in table order,
    every block after the previous one); ``close`` flushes and syncs the file."""

    def __init__(self, path: Path, table: GoldTable):
        self.path, self.table, self.rows = Path(path), table, 0
        self.largest_block = 0            # the most rows handed over at once
        self._schema = conform(pl.DataFrame(schema=table.schema), table, in_order=True).to_arrow().schema
        self._writer = pq.ParquetWriter(self.path, self._schema, compression=storage.COMPRESSION,
                                        write_statistics=True)

    def write(self, rows: pl.DataFrame) -> None:
        if rows.is_empty():
            return
        self._writer.write_table(conform(rows, self.table, in_order=True).to_arrow().cast(self._schema),
                                 row_group_size=storage.ROW_GROUP_SIZE)
        self.rows += rows.height
        self.largest_block = max(self.largest_block, rows.height)

    def close(self) -> None:
        self._writer.close()
        with open(self.path, "rb") as fh:
            os.fsync(fh.fileno())


class CarriedLists:
    """The rows of the carried-over lists (keys in ``carried``) of a previous list file sorted by ``key``,
    handed out in key order a row group at a time."""

    def __init__(self, previous: pq.ParquetFile, key: str, carried: list[str], table: GoldTable):
        self.key, self.table = key, table
        self._carried = sorted(carried)
        self._slices = _row_groups(previous)
        self._pending: pl.DataFrame | None = None

    def _kept(self, piece: pl.DataFrame) -> pl.DataFrame:
        """The rows of one row group (sorted by key) whose key is carried over; only the carried keys
        within the group's key range are looked up, not all of them."""
        if piece.is_empty():
            return piece
        keys = piece[self.key]
        lo, hi = bisect_left(self._carried, keys[0]), bisect_right(self._carried, keys[-1])
        return piece.filter(pl.col(self.key).is_in(pl.Series(self._carried[lo:hi], dtype=pl.String).implode()))

    def before(self, bound: str | None) -> pl.DataFrame:
        """The carried rows not handed out yet whose key sorts before ``bound`` (all of them: None)."""
        parts = []
        while True:
            if self._pending is None:
                piece = next(self._slices, None)
                if piece is None:
                    break
                self._pending = self._kept(piece)
            cut = self._pending.height if bound is None else self._pending[self.key].search_sorted(bound, side="left")
            parts.append(self._pending.slice(0, cut))
            rest = self._pending.slice(cut)
            self._pending = None if rest.is_empty() else rest
            if self._pending is not None:
                break
        frame = pl.concat(parts) if parts else pl.DataFrame(schema=self.table.schema)
        return conform(frame, self.table, in_order=True)


def _row_groups(file: pq.ParquetFile) -> Iterator[pl.DataFrame]:
    for group in range(file.num_row_groups):
        yield pl.from_arrow(file.read_row_group(group))
