"""Two-tower: training on the sample, held-out ranking against baselines, user-tower latency and throughput.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_two_tower.py --lake data_lake

1. Data: silver/products and features/item_embeddings of ``--lake`` (``--synthetic-content``
   replaces the embeddings by seeded per-attribute vectors when the encoder has not run), the
   persona simulator at the sample scale, the time split.
2. Training: ALS and the two-tower with their default parameters (``--loss`` picks the
   two-tower objective); wall seconds, best epoch.
3. Held-out ranking (recall / NDCG / hit rate @k, seen items excluded) for popularity, ALS and
   the two-tower on the validation probe and on *all* test users, plus the cold-start-user and
   cold-start-item slices of the test split. Reported, never used to pick anything. For cold
   items also: the two-tower ranking only the items without training interactions (how well its
   content path orders the tail; popularity and ALS cannot rank those at all), and the share of
   the two-tower's top-k slots that go to such items.
4. Latency, one user, one core (``torch.set_num_threads(1)``, BLAS at one thread): the app call
   ``model.embed_user(product_ids)`` (ids -> rows -> user tower -> numpy) against the raw
   ``UserTower.forward`` on tensors gathered beforehand (the library doing the same work); and
   ``recommend_for_history`` (embed + score the whole catalog + top-k) for a 2-click user.
5. Throughput: every training user embedded in batches via ``embed_users`` vs the raw batched
   forward.
Writes two_tower.json and two_tower.png to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recsys.catalog import ingest_catalogs  # noqa: E402
from recsys.interactions import (SimulatorSettings, SplitSettings, cold_start_items, cold_start_users,  # noqa: E402
                                 simulate, split_interactions)
from recsys.models.als import ALSParams  # noqa: E402
from recsys.models.matrix import Interactions  # noqa: E402
from recsys.models.popularity import PopularityRecommender  # noqa: E402
from recsys.models.stages import ProbeSettings, split_part, train_als, train_two_tower  # noqa: E402
from recsys.models.two_tower import NEGATIVE_POOLS, TwoTowerParams, TwoTowerRecommender, pad_histories  # noqa: E402
from recsys.models.validation import RankingProbe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_inputs(args) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    products_path = args.lake / "silver" / "products.parquet"
    products = pl.read_parquet(products_path) if products_path.exists() \
        else ingest_catalogs(REPO / "data_lake" / "raw").products
    if args.synthetic_content:
        sys.path.insert(0, str(REPO))     # the seeded vectors the tests use live in tests/
        from tests.interaction_fixtures import attribute_embeddings

        return products, attribute_embeddings(products, dim=384), "synthetic per-attribute vectors (seed 0), d=384"
    path = args.lake / "features" / "item_embeddings.parquet"
    if not path.exists():
        raise SystemExit(f"{path} is missing: materialize features/item_embeddings or pass --synthetic-content")
    embeddings = pl.read_parquet(path, columns=["product_id", "fused_vector", "encoder", "encoder_version"])
    return products, embeddings, f"{path} ({embeddings['encoder'][0]} {embeddings['encoder_version'][0]})"


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p95_ms": round(float(np.percentile(ms, 95)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4), "mean_ms": round(float(ms.mean()), 4), "n": len(ms)}


def ranking(split: pl.DataFrame, models: dict, k: int) -> dict[str, dict[str, dict[str, float]]]:
    test = split_part(split, "test")
    slices = {"all": test,
              "cold_start_users": test.filter(pl.col("user_id").is_in(list(cold_start_users(split)))),
              "cold_start_items": test.filter(pl.col("product_id").is_in(list(cold_start_items(split))))}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, frame in slices.items():
        probe = RankingProbe.from_events(frame, k=k, max_users=10**9)
        out[name] = {model_name: {**probe.evaluate(model), "users": len(probe)} for model_name, model in models.items()}
    return out


def cold_items(split: pl.DataFrame, model: TwoTowerRecommender, k: int) -> dict[str, float]:
    """The cold-start-item slice ranked among the items with no training interactions only, and
    the share of cold items in every test user's top k over the whole catalog."""
    cold_rows = np.flatnonzero(~model.item_is_warm)
    test = split_part(split, "test")
    probe = RankingProbe.from_events(test.filter(pl.col("product_id").is_in(list(cold_start_items(split)))),
                                     k=k, max_users=10**9)
    users = model.user_vectors[model.user_rows(probe.user_ids.tolist())]
    scores = users @ model.item_vectors[cold_rows].T              # cosine: the softmax/BPR ranking score
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    cold_ids = model.item_ids[cold_rows]
    recall = [len(set(cold_ids[row].tolist()) & relevant) / len(relevant) for row, relevant in zip(top, probe.relevant)]
    everyone = RankingProbe.from_events(test, k=k, max_users=10**9)
    positions, _ = model.rank_rows(model.user_rows(everyone.user_ids.tolist()), k)
    served = positions[positions >= 0]
    return {f"recall@{k}_among_cold_items": float(np.mean(recall)), "users": len(probe),
            "cold_items": len(cold_rows), f"cold_share_of_top{k}": float((~model.item_is_warm[served]).mean())}


def latency(model: TwoTowerRecommender, histories: list[list[str]], repeats: int) -> dict[str, dict]:
    net = model.net
    vectors = torch.from_numpy(model.item_vectors)
    results: dict[str, list[float]] = {"embed_user": [], "raw_user_tower": [], "recommend_for_history_2_clicks": []}
    prepared = []
    for history in histories:
        rows = model.item_rows(history)
        index, mask, strength = pad_histories([rows[rows >= 0]], [np.ones((rows >= 0).sum(), np.float32)],
                                              model.params.max_history)
        prepared.append((vectors[torch.from_numpy(index)], torch.from_numpy(mask), torch.from_numpy(strength)))
    model.embed_user(histories[0])                         # warm-up: first calls allocate
    with torch.no_grad():
        net.user_tower(*prepared[0])
    for _ in range(repeats):
        for history, tensors in zip(histories, prepared):
            started = time.perf_counter()
            model.embed_user(history)
            results["embed_user"].append(time.perf_counter() - started)
            started = time.perf_counter()
            with torch.no_grad():
                net.user_tower(*tensors)
            results["raw_user_tower"].append(time.perf_counter() - started)
    for history in histories[:200]:
        started = time.perf_counter()
        model.recommend_for_history(history[:2], k=20)
        results["recommend_for_history_2_clicks"].append(time.perf_counter() - started)
    return {name: percentiles(samples) for name, samples in results.items()}


def throughput(model: TwoTowerRecommender, train: Interactions, repeats: int) -> dict[str, float]:
    histories = [train.history(r, model.params.max_history) for r in range(train.n_users)]
    ids = [train.item_ids[items].tolist() for items, _ in histories]
    strengths = [s.tolist() for _, s in histories]
    rows = [model.item_rows(h) for h in ids]
    index, mask, strength = pad_histories(rows, [np.asarray(s, np.float32) for s in strengths],
                                          model.params.max_history)
    vectors = torch.from_numpy(model.item_vectors)
    best: dict[str, float] = {}
    for _ in range(repeats):
        started = time.perf_counter()
        model.embed_users(ids, strengths)
        api = time.perf_counter() - started
        started = time.perf_counter()
        with torch.no_grad():
            for lo in range(0, len(index), 4096):
                sl = slice(lo, lo + 4096)
                model.net.user_tower(vectors[torch.from_numpy(index[sl])], torch.from_numpy(mask[sl]),
                                     torch.from_numpy(strength[sl]))
        raw = time.perf_counter() - started
        best = {"embed_users_seconds": min(api, best.get("embed_users_seconds", api)),
                "raw_batched_seconds": min(raw, best.get("raw_batched_seconds", raw))}
    return {"users": train.n_users, **{k: round(v, 4) for k, v in best.items()},
            "embed_users_per_s": round(train.n_users / best["embed_users_seconds"]),
            "raw_batched_users_per_s": round(train.n_users / best["raw_batched_seconds"])}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    curve = report["training"]["curve"]
    k = report["k"]
    left.plot([c["epoch"] for c in curve], [c[f"recall@{k}"] for c in curve], marker="o", label="two-tower")
    for name in ("popularity", "als"):
        left.axhline(report["validation"][name][f"recall@{k}"], linestyle="--", color="grey")
        left.annotate(name, (1, report["validation"][name][f"recall@{k}"]), fontsize=8)
    left.set(title=f"validation recall@{k} by epoch", xlabel="epoch")
    slices = list(report["test"])
    models = list(report["test"]["all"])
    width = 0.8 / len(models)
    for i, name in enumerate(models):
        right.bar(np.arange(len(slices)) + i * width, [report["test"][s][name][f"recall@{k}"] for s in slices],
                  width, label=name)
    right.set_xticks(np.arange(len(slices)) + width * (len(models) - 1) / 2, slices)
    right.set(title=f"test recall@{k} by slice")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=REPO / "data_lake")
    parser.add_argument("--synthetic-content", action="store_true")
    parser.add_argument("--loss", default="softmax", choices=["softmax", "bpr", "mse"])
    parser.add_argument("--use-als", action="store_true")
    parser.add_argument("--negative-pool", default=TwoTowerParams().negative_pool, choices=list(NEGATIVE_POOLS))
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--latency-users", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="two_tower", help="output file stem")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    products, embeddings, content = load_inputs(args)
    load = [os.getloadavg()[0]]
    events = simulate(products, SimulatorSettings.sample()).events
    split = split_interactions(events, SplitSettings()).frame
    probe = ProbeSettings(k=args.k)
    als = train_als(split, ALSParams(), probe, curve_every=0)
    params = TwoTowerParams(loss=args.loss, use_als=args.use_als, negative_pool=args.negative_pool)
    stage = train_two_tower(split, embeddings, params, als.model if args.use_als else None, probe)
    model: TwoTowerRecommender = stage.model
    catalog = model.item_ids.tolist()
    train = Interactions.from_events(split_part(split, "train").filter(pl.col("product_id").is_in(catalog)),
                                     item_ids=catalog)
    popularity = PopularityRecommender().fit(train)
    test = ranking(split, {"popularity": popularity, "als": als.model, "two_tower": model}, args.k)
    cold = cold_items(split, model, args.k)
    load.append(os.getloadavg()[0])

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    users = rng.choice(train.n_users, size=min(args.latency_users, train.n_users), replace=False)
    histories = [train.item_ids[train.history(int(u), model.params.max_history)[0]].tolist() for u in users]
    with threadpool_limits(1):
        lat = latency(model, histories, args.repeats)
        thr = throughput(model, train, args.repeats)
    report = {
        "benchmark": "two_tower", "created_at": datetime.now(timezone.utc).isoformat(), "content": content,
        "products": products.height, "events": events.height, "k": args.k, "params": asdict(params),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "note": "shared 2-core machine; latency and throughput on one thread",
                    "load_average_1min": [round(x, 2) for x in load], "load_average_1min_at_end": os.getloadavg()[0]},
        "training": {"seconds": stage.seconds, "best_epoch": model.summary["best_epoch"],
                     "epochs_run": model.summary["epochs_run"], "examples": model.summary["examples"],
                     "curve": model.summary["curve"], "als_seconds": als.seconds},
        "validation": {"popularity": stage.popularity_validation, "als": als.validation, "two_tower": stage.validation},
        "test": test,
        "two_tower_cold_items": cold,
        "latency_one_user_one_core": lat,
        "throughput_all_users_one_core": thr,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2, default=str))
    plot(report, args.out / f"{args.name}.png")
    print(json.dumps({"training_seconds": stage.seconds, "validation": report["validation"],
                      "test_all": test["all"], "test_cold_start_items": test["cold_start_items"],
                      "two_tower_cold_items": cold, "latency": lat, "throughput": thr}, indent=1))


if __name__ == "__main__":
    main()
