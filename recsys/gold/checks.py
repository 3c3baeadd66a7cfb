"""What the list tables promise, and what the UI shows of them, asked of DuckDB: on the Parquet file a
build wrote (a million users' lists are 50M rows, never loaded whole) or on a small table in memory.
A check answers with the keys or the number of rows or lists that break a promise (none = kept)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

# Scores drawn for the UI's score plot: its shape, not every row of a 50M-row table.
SCORE_SAMPLE_ROWS = 200_000


class ListTableQueries:
    """One list table (``key``: whose list, ``item``: the listed product) as the view ``lists``."""

    def __init__(self, source: Path | pl.DataFrame, key: str, item: str):
        self.key, self.item = key, item
        self._con = duckdb.connect()
        if isinstance(source, pl.DataFrame):
            self._con.register("lists", source.to_arrow())
        else:
            self._con.read_parquet(str(source)).create_view("lists")

    def __enter__(self) -> ListTableQueries:
        return self

    def __exit__(self, *exc) -> None:
        self._con.close()

    def _one(self, query: str, params: list | None = None):
        return self._con.execute(query, params or []).fetchall()[0][0]

    def rows(self) -> int:
        return self._one("SELECT count(*) FROM lists")

    def distinct(self, column: str) -> int:
        return self._one(f'SELECT count(DISTINCT "{column}") FROM lists')

    def missing_keys(self, expected: list[str]) -> list[str]:
        """Expected keys (products, users) that have no row in the table, sorted."""
        self._con.register("expected_keys", pl.DataFrame({"k": expected}, schema={"k": pl.String}).to_arrow())
        missing = self._con.execute(f'SELECT DISTINCT k FROM expected_keys ANTI JOIN lists ON k = lists."{self.key}" '
                                    "ORDER BY k").fetchall()
        self._con.unregister("expected_keys")
        return [k for (k,) in missing]

    def self_rows(self) -> int:
        """Rows listing the key's own product (a product as its own neighbour)."""
        return self._one(f'SELECT count(*) FROM lists WHERE "{self.key}" = "{self.item}"')

    def owned_rows(self, interactions: pl.DataFrame) -> int:
        """Rows recommending a product the user already interacted with (in ``interactions``)."""
        self._con.register("owned", interactions.select("user_id", "product_id").unique().to_arrow())
        count = self._one("SELECT count(*) FROM lists SEMI JOIN owned USING (user_id, product_id)")
        self._con.unregister("owned")
        return count

    def broken_lists(self) -> int:
        """Lists whose ranks are not exactly 1..n, or whose scores increase with rank (beyond 1e-6)."""
        return self._one(f"""
            SELECT count(*) FROM (
                SELECT bool_and(rank = position) AS ranks_ok,
                       bool_and(coalesce(score - previous_score, 0) <= 1e-6) AS scores_ok
                FROM (SELECT "{self.key}" AS list_key, rank, score,
                             row_number() OVER ordered AS position, lag(score) OVER ordered AS previous_score
                      FROM lists WINDOW ordered AS (PARTITION BY "{self.key}" ORDER BY rank))
                GROUP BY list_key)
            WHERE NOT ranks_ok OR NOT scores_ok""")

    def reason_counts(self) -> pl.DataFrame:
        """Rows per distinct reason (columns reason, len)."""
        return self._con.sql("SELECT reason, count(*) AS len FROM lists GROUP BY reason").pl()

    def counts_by_model(self, distinct_keys: bool) -> dict[str, int]:
        """Per model: the lists it made (``distinct_keys``) or its rows."""
        what = f'count(DISTINCT "{self.key}")' if distinct_keys else "count(*)"
        rows = self._con.execute(f"SELECT model, {what} AS n FROM lists GROUP BY model ORDER BY n DESC, model")
        return dict(rows.fetchall())

    def score_sample(self, rows: int = SCORE_SAMPLE_ROWS) -> pl.DataFrame:
        """Up to ``rows`` rows (model, rank, score) drawn at random, the same on every call."""
        return self._con.sql(f"SELECT model, rank, score FROM lists USING SAMPLE reservoir({int(rows)} ROWS) "
                             "REPEATABLE (7) ORDER BY model, rank, score").pl()

    def sample_lists(self, lists: int = 3, rows: int = 5) -> pl.DataFrame:
        """The first ``rows`` rows of ``lists`` evenly spaced lists (keys in order)."""
        return self._con.sql(f"""
            WITH keys AS (SELECT k, row_number() OVER (ORDER BY k) - 1 AS i, count(*) OVER () AS n
                          FROM (SELECT DISTINCT "{self.key}" AS k FROM lists)),
                 chosen AS (SELECT k FROM keys WHERE i % greatest(1, n // {int(lists)}) = 0 ORDER BY k LIMIT {int(lists)})
            SELECT lists.* FROM lists SEMI JOIN chosen ON lists."{self.key}" = chosen.k
            WHERE rank <= {int(rows)} ORDER BY lists."{self.key}", rank""").pl()
