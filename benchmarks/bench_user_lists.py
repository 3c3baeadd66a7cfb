"""Peak memory of the user-list step: a full build and a nightly refresh, each in its own process.

A synthetic world (random content and two-tower vectors, ``--events-per-user`` random clicks) goes
through ``build_user_recommendations`` (lists streamed to a Parquet file) and the list checks
(DuckDB on that file), as the asset runs them. Then a nightly: two products change vectors; the
refresh reads the previous file and state and carries most lists over. Each phase runs in a child
process and reports its peak RSS (``ru_maxrss``), with the RSS after the inputs were built, so
the step's own share shows.

    python benchmarks/bench_user_lists.py --products 2000 --users 200000

Writes benchmarks/results/user_lists.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ARTICLE_TYPES = ["Tshirts", "Shirts", "Jeans", "Sports Shoes", "Dresses", "Watches", "Kurtas", "Tops"]


def synthetic_inputs(n_products: int, n_users: int, events_per_user: float, nightly: bool, dim: int = 32):
    """Products, history, content vectors and search, and a two-tower space; ``nightly``: two products
    (0.1% of 2,000) with new vectors. (New clicks move popularity, a candidate source of every user:
    every list is then searched again, and nothing is carried over.)"""
    import numpy as np
    import polars as pl

    from recsys.catalog.schema import PRODUCT_SCHEMA
    from recsys.gold import UserSpace, build_products
    from recsys.index import IdMap
    from recsys.recommend import build_history
    from recsys.topk import exact_search
    from recsys.vectors import AlignedVectors

    rng = np.random.default_rng(0)
    columns = {"product_id": [f"myntra_styles:{100000 + i}" for i in range(n_products)], "source": "myntra_styles",
               "source_id": [str(100000 + i) for i in range(n_products)],
               "name": [f"Product {i} {ARTICLE_TYPES[i % 8]}" for i in range(n_products)],
               "brand": [f"Brand{i % 13}" for i in range(n_products)], "gender": "Men", "category": "Apparel",
               "article_type": [ARTICLE_TYPES[i % 8] for i in range(n_products)], "colour": "Black",
               "usage": "Casual", "image_urls": [[f"raw/{i}.jpg"] for i in range(n_products)],
               "content_hash": [f"h{i}" for i in range(n_products)],
               "ingested_at": datetime(2025, 1, 1, tzinfo=timezone.utc), "source_file": "x.csv",
               "source_line": list(range(n_products))}
    silver = pl.DataFrame({c: columns.get(c, [None] * n_products) for c in PRODUCT_SCHEMA}).cast(PRODUCT_SCHEMA)
    products = build_products(silver, None, None, build_id="bench")
    vectors = rng.standard_normal((n_products, dim)).astype(np.float32)
    events = int(n_users * events_per_user)
    users, items = rng.integers(0, n_users, events), rng.integers(0, n_products, events)
    if nightly:
        changed = rng.choice(n_products, 2, replace=False)
        vectors[changed] = rng.standard_normal((len(changed), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = products["product_id"]
    interactions = pl.DataFrame({"user_id": [f"u{u:08d}" for u in users], "product_id": ids.gather(items),
                                 "event": "click"})
    history = build_history(interactions, IdMap(ids.to_list()))
    tower_rng = np.random.default_rng(1)
    tower = UserSpace(AlignedVectors(tower_rng.standard_normal((history.n_users, dim)).astype(np.float32),
                                     np.ones(history.n_users, bool)),
                      AlignedVectors(tower_rng.standard_normal((n_products, dim)).astype(np.float32),
                                     np.ones(n_products, bool)))
    content = AlignedVectors(vectors, np.ones(n_products, bool))
    return products, history, interactions, content, exact_search(vectors), tower


def run_phase(args) -> dict:
    """One phase in this process: build (refresh from the lake's previous lists when nightly), check, publish."""
    from recsys import storage
    from recsys.gold import UserRecommendationsSettings, build_user_recommendations
    from recsys.gold.checks import ListTableQueries
    from recsys.gold.list_refresh import ListState, PreviousLists, file_digest

    nightly = args.phase == "nightly"
    products, history, interactions, content, search, tower = synthetic_inputs(
        args.products, args.users, args.events_per_user, nightly)
    inputs_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table, state_dir = args.lake / "user_recommendations.parquet", args.lake / "state"
    previous = PreviousLists.open(table, ListState.load(state_dir)) if nightly else None
    started = time.perf_counter()
    with storage.staged_file(table) as staging:
        built = build_user_recommendations(products, history, content, search, tower=tower,
                                           config=UserRecommendationsSettings(), build_id=args.phase,
                                           output=staging, previous=previous)
        build_seconds = time.perf_counter() - started
        with ListTableQueries(staging, "user_id", "product_id") as lists:
            rows, missing = lists.rows(), len(lists.missing_keys(history.user_ids.tolist()))
            wrong = lists.owned_rows(interactions) + lists.broken_lists()
        storage.move_into_place(staging, table)
    built.state.table_digest = file_digest(table)
    built.state.save(state_dir)
    return {"phase": args.phase, "users": history.n_users, "rows": rows, "missing_users": missing,
            "wrong_rows_or_lists": wrong, "build_seconds": round(build_seconds, 1),
            "step_seconds": round(time.perf_counter() - started, 1), "inputs_peak_rss_mb": round(inputs_mb),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "counts": built.plan.counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--events-per-user", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "user_lists.json")
    parser.add_argument("--phase", choices=["full", "nightly"], help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_user_lists_") as lake:
        for phase in ("full", "nightly"):
            child = subprocess.run([sys.executable, __file__, "--phase", phase, "--lake", lake, "--products",
                                    str(args.products), "--users", str(args.users), "--events-per-user",
                                    str(args.events_per_user)], check=True, capture_output=True, text=True)
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"products": args.products, "users": args.users, "phases": results}, indent=2))


if __name__ == "__main__":
    main()
