"""Evaluation: hybrid weights tuned on validation, then every model scored on test with a report."""

import time

import dagster as dg
import numpy as np
import polars as pl
import scipy.sparse as sp

from assets import metadata
from assets.models import ALS_MODEL, ITEM_EMBEDDINGS, ITEM_TOWER_VECTORS, TWO_TOWER_MODEL
from assets.interactions import INTERACTION_SPLIT
from assets.tables import EVALUATION, GOLD_PRODUCTS, HYBRID_WEIGHTS, HYBRID_WEIGHTS_FILE, SIMILAR_ITEMS
from recsys.evaluation import baselines, ground_truth, protocol, rankings, report, tuning
from recsys.gold import DEFAULT_USER_WEIGHTS, model_inputs
from recsys.index import IdMap
from recsys.embeddings.product_text import product_texts
from recsys.recommend import VectorSignal, build_history
from recsys.vectors import align_frame
from resources import LakeResource

GROUP = "evaluation"
EVAL_DIR = "gold/evaluation"
CONTENT_COLUMNS = {"text": "text_vector", "image": "image_vector", "fused": "fused_vector"}


class EvaluationConfig(dg.Config):
    k: int = 20
    candidates_per_source: int = 100
    similar_queries: int = 1_000
    """Products sampled as queries for each similar-items relevance definition."""
    seed: int = 0


def _inputs(lake: LakeResource, history_splits: list[str], cfg: EvaluationConfig):
    """Products, content spaces, the split, and the user history over ``history_splits``."""
    products = lake.read_table("gold/products")
    ids = IdMap(products["product_id"].to_list())
    embeddings = lake.read_table("features/item_embeddings")
    content = {name: model_inputs.content_vectors(ids, embeddings, column).normalized()
               for name, column in CONTENT_COLUMNS.items()}
    searches = {name: VectorSignal(name, v.vectors, v.vectors, v.known, v.known).search() for name, v in content.items()}
    split = lake.read_table("features/interaction_split")
    history_rows = split.filter(pl.col("split").is_in(history_splits))
    history = build_history(history_rows, ids, users=split["user_id"].unique().to_list())
    als = model_inputs.als_space(lake.path("models/als"), ids, history)
    tower = model_inputs.tower_space(lake.path("models/two_tower"), lake.read_table_if_exists("features/item_tower_vectors"),
                                     history_rows, ids, history)
    prepared = rankings.prepare_users(history, content, searches, tower, als, cfg.candidates_per_source, cfg.k)
    return products, ids, content, split, history, history_rows, tower, als, prepared


@dg.asset(
    key=HYBRID_WEIGHTS, group_name=GROUP, kinds={"python", "json"},
    deps=[GOLD_PRODUCTS, ITEM_EMBEDDINGS, INTERACTION_SPLIT, ALS_MODEL, TWO_TOWER_MODEL, ITEM_TOWER_VECTORS],
    description="Hybrid re-ranking weights (content, two_tower, als, popularity) for user_recommendations, "
                "tuned on the VALIDATION split by coordinate ascent on NDCG@10; the tables use them.",
)
def hybrid_weights(context: dg.AssetExecutionContext, config: EvaluationConfig, lake: LakeResource):
    started = time.perf_counter()
    products, _, _, split, history, _, tower, als, prepared = _inputs(lake, ["train"], config)
    truth = ground_truth.user_ground_truth(split.filter(pl.col("split") != "test"), heldout="validation")
    truth = truth.filter(pl.col("slice") == "all")
    product_ids = products["product_id"].to_numpy()
    signals = [s.name for s in prepared["fused"].signals]
    result = tuning.coordinate_ascent(
        lambda w: rankings.reranked(prepared["fused"], w, 10, history, product_ids),
        truth, DEFAULT_USER_WEIGHTS, signals)
    tuning.save_tuned_weights(lake.path(HYBRID_WEIGHTS_FILE), result, DEFAULT_USER_WEIGHTS)
    context.log.info("tuned hybrid weights %s: validation %s %.4f -> %.4f in %d trials", result.weights,
                     result.objective, result.start, result.best, len(result.trials))
    trials = pl.DataFrame(result.trials).sort("ndcg", descending=True)
    return dg.MaterializeResult(metadata={
        "weights": result.weights,
        "objective": result.objective,
        "validation_at_defaults": round(result.start, 4),
        "validation_tuned": round(result.best, 4),
        "validation_users": truth["query_id"].n_unique(),
        "trials": metadata.preview(trials, rows=10),
        "seconds": round(time.perf_counter() - started, 1),
        "path": dg.MetadataValue.path(str(lake.path(HYBRID_WEIGHTS_FILE))),
    })


def _similar_rankings(lake: LakeResource, content: dict, history, truth: pl.DataFrame, ids: IdMap, k: int,
                      texts: list[str], product_ids: np.ndarray):
    """Every model's similar-items lists for the similar-items queries of ``truth``."""
    tower_frame = lake.read_table_if_exists("features/item_tower_vectors")
    als_folder = lake.path("models/als")
    queries = truth.filter(pl.col("task") == "similar_items")["query_id"].unique().sort()
    positions = ids.positions_of(queries.to_list())
    positions = positions[positions >= 0]
    out = {name: rankings.similar_by_vectors(space, positions, k, product_ids) for name, space in content.items()}
    if tower_frame is not None:
        out["two_tower"] = rankings.similar_by_vectors(model_inputs.tower_items(tower_frame, ids), positions, k, product_ids)
    if (als_folder / "items.parquet").exists():
        items = pl.read_parquet(als_folder / "items.parquet")
        out["als"] = rankings.similar_by_vectors(align_frame(ids, items, "product_id", "factors"),
                                                 positions, k, product_ids)
    tfidf = baselines.TfidfModel(texts)
    own = sp.csr_matrix((np.ones(len(positions), np.float32), (np.arange(len(positions)), positions)),
                        shape=(len(positions), len(product_ids)))
    query_ids = product_ids[positions].tolist()
    out["tfidf"] = tfidf.rank(query_ids, tfidf.matrix[positions], own, k, product_ids)
    out["random"] = baselines.random_rankings(query_ids, own, k, product_ids)
    prior = history.popularity.astype(np.float32)
    out["popularity"] = baselines.rank_by_scores(query_ids, lambda lo, hi: np.tile(prior, (hi - lo, 1)), own, k,
                                                 product_ids)
    gold = lake.read_table("gold/similar_items")
    out["hybrid"] = (gold.filter(pl.col("product_id").is_in(queries.implode()), pl.col("rank") <= k)
                     .select(query_id="product_id", rank=pl.col("rank").cast(pl.Int32), product_id="similar_product_id",
                             score=pl.col("score").cast(pl.Float32)))
    return out, tfidf


@dg.asset(
    key=EVALUATION, group_name=GROUP, kinds={"python", "parquet", "markdown"},
    deps=[HYBRID_WEIGHTS, GOLD_PRODUCTS, SIMILAR_ITEMS, ITEM_EMBEDDINGS, INTERACTION_SPLIT, ALS_MODEL,
          TWO_TOWER_MODEL, ITEM_TOWER_VECTORS],
    description="gold/evaluation/{metrics,rankings,ground_truth}.parquet + report.md: every model (random, popularity, "
                "tfidf, text, image, fused, als, two_tower, hybrid) on the TEST split, user and similar-items tasks, "
                "with slices; plots in the metadata.",
    check_specs=[
        dg.AssetCheckSpec("hybrid_not_worse_than_popularity", asset=EVALUATION,
                          description="The model the tables use beats popularity on NDCG@10 (all users, test)."),
        dg.AssetCheckSpec("metrics_in_range", asset=EVALUATION,
                          description="Every metric lies in its valid range."),
    ],
)
def evaluation(context: dg.AssetExecutionContext, config: EvaluationConfig, lake: LakeResource):
    started = time.perf_counter()
    tuned = tuning.load_tuned(lake.path(HYBRID_WEIGHTS_FILE))
    weights = tuned["user_recommendations"]
    products, ids, content, split, history, history_rows, tower, als, prepared = _inputs(
        lake, ["train", "validation"], config)
    product_ids = products["product_id"].to_numpy()
    context.log.info("ranking users with every model (%d users)", history.n_users)
    user = rankings.user_model_rankings(prepared, weights, config.k, history, product_ids)
    user_ids = history.user_ids.tolist()
    owned = history.owned
    owned_matrix = sp.csr_matrix((np.ones(len(owned.indices), np.float32), owned.indices, owned.indptr),
                                 shape=(history.n_users, len(product_ids)))
    texts = product_texts(products)["text"].to_list()
    truth = pl.concat([
        ground_truth.user_ground_truth(split, "test"),
        ground_truth.co_interaction_ground_truth(split, "test", config.similar_queries, config.seed),
        ground_truth.attribute_ground_truth(products, config.similar_queries, config.seed),
    ])
    similar, tfidf = _similar_rankings(lake, content, history, truth, ids, config.k, texts, product_ids)
    user["tfidf"] = tfidf.rank(user_ids, tfidf.user_profiles(owned_matrix), owned_matrix, config.k, product_ids)
    user["random"] = baselines.random_rankings(user_ids, owned_matrix, config.k, product_ids, config.seed)
    train = split.filter(pl.col("split") == "train")
    result = protocol.score_models({"user_recommendations": user, "similar_items": similar}, truth, products,
                                   content["fused"], train, build_id=context.run.run_id)
    gold = lake.path(EVAL_DIR)
    gold.mkdir(parents=True, exist_ok=True)
    lake.write_table(result.metrics, f"{EVAL_DIR}/metrics")
    lake.write_table(result.rankings, f"{EVAL_DIR}/rankings")
    lake.write_table(result.ground_truth, f"{EVAL_DIR}/ground_truth")
    counts = {f"{task}/{name}": n for task, name, n in
              truth.group_by("task", "slice").agg(pl.col("query_id").n_unique()).sort("task", "slice").iter_rows()}
    tuning_result = tuning.TuningResult(weights=weights, objective=tuned["objective"], best=tuned["validation_best"],
                                        start=tuned["validation_at_defaults"])
    markdown = report.write_markdown(result, tuning_result, counts)
    (gold / "report.md").write_text(markdown)
    figures = report.plots(result)
    plot_meta = {f"plot_{name}": metadata.png(fig, save_to=gold / f"{name}.png") for name, fig in figures.items()}
    head = report.headline(result)
    hybrid, popular = head["hybrid_ndcg10_all"], result.value("popularity", "user_recommendations", "all", "ndcg", 10)
    bad = protocol.out_of_range(result.metrics)
    tables = report.summary_tables(result)
    yield dg.MaterializeResult(metadata={
        "headline": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in head.items()},
        "user_ndcg10_by_slice": metadata.preview(tables["user_ndcg10"], rows=20),
        "similar_ndcg10": metadata.preview(tables["similar_ndcg10"], rows=20),
        "beyond_accuracy_k10": metadata.preview(tables["beyond"], rows=20),
        "queries": counts,
        "hybrid_weights": weights,
        "report": dg.MetadataValue.md(markdown),
        **plot_meta,
        "dagster/row_count": result.metrics.height,
        "seconds": round(time.perf_counter() - started, 1),
        "path": dg.MetadataValue.path(str(gold)),
    })
    yield dg.AssetCheckResult(check_name="hybrid_not_worse_than_popularity", asset_key=EVALUATION,
                              severity=dg.AssetCheckSeverity.WARN, passed=hybrid is not None and popular is not None and hybrid >= popular,
                              metadata={"hybrid_ndcg10": hybrid or float("nan"), "popularity_ndcg10": popular or float("nan")})
    yield dg.AssetCheckResult(check_name="metrics_in_range", asset_key=EVALUATION, passed=bad.is_empty(),
                              metadata={"out_of_range_rows": bad.height})
