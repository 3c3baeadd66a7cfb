"""Every table of two built lakes, compared: is a build after a change the same as one before it?

    .venv/bin/python benchmarks/compare_builds.py LAKE_A LAKE_B [--float-tolerance 0] [--out FILE]

Compares every Parquet table under silver/, features/, gold/, state/ and models/, and every table
of warehouse.duckdb. What differs between any two builds of the same data is left out: the
columns named in ``IGNORED_COLUMNS`` (build and run ids, timestamps, timings; at any depth of a
nested column), and each lake's own build ids where they appear inside strings ("kept the
evaluation of build <id>", "similar_items@<id>"). Everything else must match row for row, in the
stored order: ids, ranks, strings, counts exactly; float columns (also vectors) up to
``--float-tolerance`` (default 0: bit for bit), with the largest absolute difference reported.

Writes benchmarks/results/compare_builds.json and exits 1 when a table differs or is missing
from one lake, 0 when every table matches.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import polars as pl

TABLE_FOLDERS = ("silver", "features", "gold", "state", "models")
WAREHOUSE_FILE = "warehouse.duckdb"
# Columns (or struct fields) that differ between two builds of the same data, by name.
IGNORED_COLUMNS = (
    "build_id",            # every table row names the run that wrote it
    "run_id",
    "started_at", "finished_at",          # gold/builds
    "ingested_at", "quarantined_at",      # silver rows: when this build read them
    "fetched_at", "source_mtime_ns",      # images/manifest: when the image was read, the raw file's mtime
    "model_version", "saved_at", "trained_at",   # a saved model's version is the time it was saved
    "seconds",                            # gold/builds stages: timings
)
BUILD_ID_COLUMN = "build_id"
RESULT = Path(__file__).parent / "results" / "compare_builds.json"


def lake_tables(lake: Path) -> dict[str, pl.DataFrame]:
    """Every table of a built lake by name: Parquet by path (``gold/similar_items``), the warehouse's
    as ``warehouse/<table>``."""
    tables = {}
    for folder in TABLE_FOLDERS:
        for path in sorted((lake / folder).rglob("*.parquet")):
            if not any(part.startswith(".") for part in path.relative_to(lake).parts):
                tables[path.relative_to(lake).with_suffix("").as_posix()] = pl.read_parquet(path)
    warehouse = lake / WAREHOUSE_FILE
    if warehouse.exists():
        import duckdb

        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            for (name,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall():
                tables[f"warehouse/{name}"] = con.sql(f'SELECT * FROM "{name}"').pl()
        finally:
            con.close()
    return tables


def build_ids(tables: dict[str, pl.DataFrame]) -> set[str]:
    """The build ids this lake's tables name (to mask inside strings)."""
    return {value for frame in tables.values() if BUILD_ID_COLUMN in frame.columns
            for value in frame[BUILD_ID_COLUMN].drop_nulls().cast(pl.String).unique().to_list()}


def _is_float(dtype: pl.DataType) -> bool:
    while isinstance(dtype, (pl.List, pl.Array)):
        dtype = dtype.inner
    return dtype.is_float()


def _comparable(dtype: pl.DataType, column: pl.Expr, ids: set[str]) -> pl.Expr:
    """``column`` with ignored struct fields dropped and this lake's build ids inside strings replaced by
    a placeholder, at any depth of lists and structs."""
    if isinstance(dtype, pl.Struct):
        kept = [f for f in dtype.fields if f.name not in IGNORED_COLUMNS]
        return pl.struct([_comparable(f.dtype, column.struct.field(f.name), ids).alias(f.name) for f in kept])
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, (pl.Struct, pl.List, pl.String)):
        return column.list.eval(_comparable(dtype.inner, pl.element(), ids))
    if dtype == pl.String and ids:
        return column.str.replace_all("|".join(sorted(ids)), "<build>")
    return column


def normalized(frame: pl.DataFrame, ids: set[str]) -> pl.DataFrame:
    """The columns that must match between builds, build ids masked."""
    kept = {name: dtype for name, dtype in frame.schema.items() if name not in IGNORED_COLUMNS}
    return frame.select(_comparable(dtype, pl.col(name), ids).alias(name)
                        for name, dtype in kept.items())


def _float_values(series: pl.Series) -> np.ndarray:
    while isinstance(series.dtype, (pl.List, pl.Array)):
        series = series.explode() if isinstance(series.dtype, pl.List) else series.arr.explode()
    return series.cast(pl.Float64).to_numpy()


def max_abs_difference(a: pl.Series, b: pl.Series) -> float | None:
    """Largest absolute difference of two float columns; None when their shapes (or NaN/null places) differ."""
    if isinstance(a.dtype, pl.List) and not a.list.len().equals(b.list.len()):
        return None
    x, y = _float_values(a), _float_values(b)
    if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
        return None
    both = ~np.isnan(x)
    return float(np.max(np.abs(x[both] - y[both]), initial=0.0))


def compare_table(a: pl.DataFrame, b: pl.DataFrame, tolerance: float) -> dict:
    """One table of each lake, both normalized: what differs (an empty ``differences`` when nothing)."""
    report: dict = {"rows": [a.height, b.height], "differences": [], "float_max_abs_diff": {}}
    if a.schema != b.schema:
        report["differences"].append(f"schema: {dict(a.schema)} vs {dict(b.schema)}")
        return report
    if a.height != b.height:
        report["differences"].append(f"rows: {a.height} vs {b.height}")
        return report
    for name, dtype in a.schema.items():
        if _is_float(dtype):
            diff = max_abs_difference(a[name], b[name])
            report["float_max_abs_diff"][name] = diff
            if diff is None or diff > tolerance:
                report["differences"].append(f"{name}: max abs difference {diff} (tolerance {tolerance})"
                                             if diff is not None else f"{name}: shapes or NaN places differ")
        elif not a[name].equals(b[name]):
            unequal = (a[name] != b[name]) | (a[name].is_null() != b[name].is_null())
            first = int(unequal.fill_null(True).arg_max() or 0)
            report["differences"].append(f"{name}: {int(unequal.fill_null(True).sum())} rows differ, first at row "
                                         f"{first}: {a[name][first]!r} vs {b[name][first]!r}")
    return report


def compare_lakes(lake_a: Path, lake_b: Path, tolerance: float = 0.0) -> dict:
    tables_a, tables_b = lake_tables(lake_a), lake_tables(lake_b)
    ids_a, ids_b = build_ids(tables_a), build_ids(tables_b)
    tables = {}
    for name in sorted(set(tables_a) | set(tables_b)):
        if name not in tables_b or name not in tables_a:
            tables[name] = {"differences": [f"only in {'A' if name in tables_a else 'B'}"]}
            continue
        tables[name] = compare_table(normalized(tables_a[name], ids_a), normalized(tables_b[name], ids_b), tolerance)
    different = sorted(name for name, report in tables.items() if report["differences"])
    return {"lake_a": str(lake_a), "lake_b": str(lake_b), "ignored_columns": list(IGNORED_COLUMNS),
            "float_tolerance": tolerance, "tables_compared": len(tables), "identical": not different,
            "different_tables": different, "tables": tables}


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lake_a", type=Path)
    parser.add_argument("lake_b", type=Path)
    parser.add_argument("--float-tolerance", type=float, default=0.0,
                        help="largest absolute difference allowed in a float column (default 0: exact)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    result = compare_lakes(args.lake_a, args.lake_b, args.float_tolerance)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_json_safe(result), indent=2, default=str) + "\n")
    for name in result["different_tables"]:
        print(f"DIFFERENT {name}: " + "; ".join(result["tables"][name]["differences"]))
    print(f"{result['tables_compared']} tables compared, {len(result['different_tables'])} different "
          f"-> {args.out}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
