"""Point lookups of the top-10 similar items for one product: warehouse.duckdb vs the Parquet file.

    .venv/bin/python benchmarks/bench_warehouse.py --lake data_lake --out benchmarks/results

Issue 8 goal: p50 <= 2 ms on the warehouse with a persistent connection (a plain DuckDB table
sorted by product_id). In the same run, on the same random product ids (repeats interleaved):
- ``warehouse``: the built warehouse.duckdb, one persistent read-only connection, the lookup SQL;
- ``warehouse_readme_join``: the README's similar-items query (joined to products for names);
- ``parquet_duckdb``: DuckDB (persistent in-memory connection) on gold/similar_items.parquet;
- ``parquet_polars``: polars ``scan_parquet(...).filter(product_id == ?)``;
- ``unsorted_table``: the same rows in an in-memory DuckDB table shuffled, to show what sorting buys.
Reports p50 / p95 / p99 / mean in milliseconds; writes warehouse.json and warehouse.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from recsys import warehouse
from recsys.gold import queries as sql

REPO = Path(__file__).resolve().parents[1]


def percentiles(ms: list[float]) -> dict[str, float]:
    values = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p95_ms": round(float(np.percentile(values, 95)), 3),
            "p99_ms": round(float(np.percentile(values, 99)), 3), "mean_ms": round(float(values.mean()), 3),
            "lookups": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", default=os.getenv("RECSYS_LAKE_DIR", str(REPO / "data_lake")))
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    lake = Path(args.lake)
    parquet = lake / "gold" / "similar_items.parquet"
    con = warehouse.connect_readonly(lake / "warehouse.duckdb")
    products = [r[0] for r in con.execute("SELECT DISTINCT product_id FROM similar_items").fetchall()]
    ids = np.random.default_rng(0).choice(products, size=min(args.lookups, len(products)), replace=False).tolist()
    rows = con.execute("SELECT count(*) FROM similar_items").fetchall()[0][0]

    parquet_con = duckdb.connect()
    parquet_sql = (f"SELECT similar_product_id, score, reason FROM read_parquet('{parquet}') "
                   "WHERE product_id = $1 ORDER BY rank LIMIT 10")
    unsorted_con = duckdb.connect()
    unsorted_con.execute(f"CREATE TABLE similar_items AS SELECT * FROM read_parquet('{parquet}') ORDER BY hash(rank, similar_product_id)")
    scan = pl.scan_parquet(parquet)

    contenders = {
        "warehouse": lambda pid: con.execute(sql.SIMILAR_TOP10_POINT_LOOKUP, [pid]).fetchall(),
        "warehouse_readme_join": lambda pid: con.execute(sql.SIMILAR_ITEMS, [pid, 10]).fetchall(),
        "parquet_duckdb": lambda pid: parquet_con.execute(parquet_sql, [pid]).fetchall(),
        "parquet_polars": lambda pid: scan.filter(pl.col("product_id") == pid).sort("rank").head(10).collect(),
        "unsorted_table": lambda pid: unsorted_con.execute(sql.SIMILAR_TOP10_POINT_LOOKUP, [pid]).fetchall(),
    }
    for fn in contenders.values():                    # warm caches and plans once
        for pid in ids[:20]:
            fn(pid)
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, fn in contenders.items():
            for pid in ids:
                started = time.perf_counter()
                result = fn(pid)
                timings[name].append((time.perf_counter() - started) * 1000)
                assert len(result) == 10 or name == "parquet_polars" and result.height == 10, (name, pid)
            print(f"repeat {repeat}: {name:22s} p50 {np.percentile(timings[name][-len(ids):], 50):7.3f} ms")
    report = {
        "benchmark": "warehouse", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "duckdb": duckdb.__version__,
                    "polars": pl.__version__},
        "lake": str(lake), "similar_items_rows": rows, "parquet_bytes": parquet.stat().st_size,
        "warehouse_bytes": (lake / "warehouse.duckdb").stat().st_size,
        "query": sql.SIMILAR_TOP10_POINT_LOOKUP.strip(),
        "results": {name: percentiles(ms) for name, ms in timings.items()},
        "goal": "warehouse p50 <= 2 ms with a persistent connection",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "warehouse.json").write_text(json.dumps(report, indent=2))
    plot(report, args.out / "warehouse.png")
    print(json.dumps(report["results"], indent=2))


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["results"])
    p50 = [report["results"][n]["p50_ms"] for n in names]
    p95 = [report["results"][n]["p95_ms"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    x = np.arange(len(names))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.axhline(2.0, color="red", ls=":", label="goal p50 2 ms")
    ax.set_xticks(x, names, rotation=15)
    ax.set_ylabel("ms per top-10 lookup")
    ax.set_yscale("log")
    ax.set_title(f"similar_items point lookup, {report['similar_items_rows']:,} rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
