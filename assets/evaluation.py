"""Evaluation: the tables' weights tuned on validation, then every model scored on test with a report."""

import time

import dagster as dg
import polars as pl

from assets import keys, metadata
from assets.retrain_config import RetrainConfig, decision_metadata, stage_data
from assets.tables import NIGHTLY_FRESHNESS
from recsys import retraining
from recsys.evaluation import protocol, report, tuning
from recsys.evaluation.evaluate import HeldoutSettings, evaluate_on_test
from recsys.evaluation.inputs import EvaluationInputs, load_inputs
from recsys.evaluation.validation_tuning import tune_on_validation
from recsys.gold import DEFAULT_SIMILAR_WEIGHTS, DEFAULT_USER_WEIGHTS
from resources import LakeResource

GROUP = "evaluation"
MODEL_INPUTS = [keys.GOLD_PRODUCTS, keys.ITEM_EMBEDDINGS, keys.INTERACTION_SPLIT, keys.ALS_MODEL, keys.TWO_TOWER_MODEL,
                keys.ITEM_TOWER_VECTORS]


class EvaluationConfig(dg.Config):
    k: int = 20
    candidates_per_source: int = 100
    similar_queries: int = 1_000
    """Products sampled as queries for each similar-items relevance definition (test)."""
    max_users: int = 20_000
    """Users scored at most (a fixed sample beyond it): evaluation cost stops growing with the user base."""
    seed: int = 0
    retrain: RetrainConfig = RetrainConfig()
    """When to score again; the evaluation is also redone whenever a model or the tuned weights change."""


class TuningConfig(dg.Config):
    k: int = 10
    """The validation objective is NDCG at this k."""
    candidates_per_source: int = 100
    similar_queries: int = 2_000
    """Products sampled as similar-items queries for each validation relevance definition (co-interaction in
    the validation split; attributes on the validation half of the catalog)."""
    max_users: int = 10_000
    """Users the weights are tuned on at most (a fixed sample beyond it): every trial ranks them all."""
    seed: int = 0
    retrain: RetrainConfig = RetrainConfig()
    """When to tune again; the weights are also re-tuned whenever a model they weigh is retrained."""


def _inputs(lake: LakeResource, history_splits: list[str], max_users: int, seed: int) -> EvaluationInputs:
    return load_inputs(lake.read(keys.GOLD_PRODUCTS), lake.read(keys.ITEM_EMBEDDINGS),
                       lake.read(keys.INTERACTION_SPLIT), history_splits, lake.path(keys.ALS_MODEL),
                       lake.path(keys.TWO_TOWER_MODEL), lake.read_if_exists(keys.ITEM_TOWER_VECTORS),
                       max_users=max_users, seed=seed)


def _best_trials(result: tuning.TuningResult) -> dg.MarkdownMetadataValue:
    if not result.trials:
        return dg.MetadataValue.md("(no trials: nothing to tune on)")
    return metadata.preview(pl.DataFrame(result.trials).sort(tuning.OBJECTIVE, descending=True), rows=10)


@dg.asset(
    code_version="2026-12-07",
    key=keys.HYBRID_WEIGHTS, group_name=GROUP, kinds={"python", "json"}, deps=MODEL_INPUTS,
    description="Weights the index and tables use, tuned on the VALIDATION split (never test): the text/image "
                "fusion weight (grid), user_recommendations and similar_items re-ranking weights (coordinate ascent "
                "on NDCG@10). models/hybrid_weights.json.",
)
def hybrid_weights(context: dg.AssetExecutionContext, config: TuningConfig, lake: LakeResource):
    started = time.perf_counter()
    data = stage_data(lake, config, "validation")
    decision = retraining.decide(lake.path(keys.TUNING_STATE), data, config.retrain.policy())
    saved = tuning.load_tuned(lake.path(keys.HYBRID_WEIGHTS))
    if not decision.retrain and saved is not None:
        context.log.info("hybrid weights pinned: %s", decision.reason)
        return dg.MaterializeResult(metadata={
            **decision_metadata(decision), "fusion": saved["fusion"], "user_weights": saved["user_recommendations"],
            "similar_weights": saved["similar_items"], "tuned_at": retraining.trained_at(lake.path(keys.TUNING_STATE)),
            "path": dg.MetadataValue.path(str(lake.path(keys.HYBRID_WEIGHTS)))})
    context.log.info("tuning the hybrid weights: %s", decision.reason)
    retraining.forget(lake.path(keys.TUNING_STATE))
    inputs = _inputs(lake, ["train"], config.max_users, config.seed)
    tuned = tune_on_validation(inputs, k=config.k, candidates_per_source=config.candidates_per_source,
                               similar_queries=config.similar_queries, seed=config.seed)
    tuning.save_tuned_weights(lake.path(keys.HYBRID_WEIGHTS), tuned.user, DEFAULT_USER_WEIGHTS, tuned.similar,
                              DEFAULT_SIMILAR_WEIGHTS, tuned.fusion)
    retraining.write_record(lake.path(keys.TUNING_STATE), data)
    for name, result in (("fusion", tuned.fusion), ("user_recommendations", tuned.user),
                         ("similar_items", tuned.similar)):
        context.log.info("%s: validation %s %.4f -> %.4f", name, result.objective, result.start, result.best)
    return dg.MaterializeResult(metadata={
        **decision_metadata(decision),
        "fusion": {"image": tuned.fusion.image_weight, "text": 1.0 - tuned.fusion.image_weight},
        "user_weights": tuned.user.weights,
        "similar_weights": tuned.similar.weights,
        "validation": {name: {"objective": r.objective, "at_defaults": round(r.start, 4), "tuned": round(r.best, 4)}
                       for name, r in (("fusion", tuned.fusion), ("user_recommendations", tuned.user),
                                       ("similar_items", tuned.similar))},
        "fusion_trials": metadata.preview(pl.DataFrame(tuned.fusion.trials), rows=10),
        "user_trials": _best_trials(tuned.user),
        "similar_trials": _best_trials(tuned.similar),
        "validation_queries": tuned.queries,
        "users_scored": inputs.history.n_users,
        "seconds": {**tuned.seconds, "total": round(time.perf_counter() - started, 1)},
        "path": dg.MetadataValue.path(str(lake.path(keys.HYBRID_WEIGHTS))),
    })


@dg.asset(
    code_version="2026-12-07",
    key=keys.EVALUATION, group_name=GROUP, kinds={"python", "parquet", "markdown"},
    deps=[keys.HYBRID_WEIGHTS, *MODEL_INPUTS],
    metadata={"dagster/column_schema": metadata.column_schema(protocol.METRICS_SCHEMA,
                                                              protocol.METRICS_COLUMN_DESCRIPTIONS)},
    freshness_policy=NIGHTLY_FRESHNESS,
    description="gold/evaluation/{metrics,rankings,ground_truth}.parquet + report.md: every model (random, popularity, "
                "tfidf, text, image, fused_default, fused_tuned, als, two_tower, hybrid) on the TEST split, user and "
                "similar-items tasks, with slices; plots in the metadata.",
    check_specs=[
        dg.AssetCheckSpec("hybrid_not_worse_than_popularity", asset=keys.EVALUATION,
                          description="The model the tables use beats popularity on NDCG@10 (all users, test)."),
        dg.AssetCheckSpec("metrics_in_range", asset=keys.EVALUATION,
                          description="Every metric lies in its valid range."),
    ],
)
def evaluation(context: dg.AssetExecutionContext, config: EvaluationConfig, lake: LakeResource):
    started = time.perf_counter()
    data = stage_data(lake, config, "test", weights_tuned_at=retraining.trained_at(lake.path(keys.TUNING_STATE)))
    decision = retraining.decide(lake.path(keys.EVALUATION_STATE), data, config.retrain.policy())
    if not decision.retrain and lake.has_table(keys.EVALUATION_METRICS):
        context.log.info("evaluation kept (models, weights and test split as scored): %s", decision.reason)
        yield from _kept_evaluation(lake, decision)
        return
    retraining.forget(lake.path(keys.EVALUATION_STATE))
    tuned = tuning.load_tuned(lake.path(keys.HYBRID_WEIGHTS))
    if tuned is None or "fusion" not in tuned:
        raise FileNotFoundError(f"{keys.lake_path(keys.HYBRID_WEIGHTS)} is missing or predates fusion tuning: "
                                "materialize models/hybrid_weights first")
    settings = HeldoutSettings(k=config.k, candidates_per_source=config.candidates_per_source,
                               similar_queries=config.similar_queries, seed=config.seed)
    inputs = _inputs(lake, ["train", "validation"], config.max_users, config.seed)
    result = evaluate_on_test(inputs, tuned, settings, build_id=context.run.run_id)
    truth = result.ground_truth
    gold = lake.path(keys.EVALUATION)
    gold.mkdir(parents=True, exist_ok=True)
    lake.write(result.metrics, keys.EVALUATION_METRICS)
    lake.write(result.rankings, keys.EVALUATION_RANKINGS)
    lake.write(truth, keys.EVALUATION_GROUND_TRUTH)
    counts = {f"{task}/{name}": n for task, name, n in
              truth.group_by("task", "slice").agg(pl.col("query_id").n_unique()).sort("task", "slice").iter_rows()}
    paired = report.paired_headline(result)
    markdown = report.write_markdown(result, tuned, counts, paired)
    lake.path(keys.EVALUATION_REPORT).write_text(markdown)
    figures = report.plots(result)
    plot_meta = {f"plot_{name}": metadata.png(fig, save_to=gold / f"{name}.png") for name, fig in figures.items()}
    head = report.headline(result)
    hybrid, popular = head["hybrid_ndcg10_all"], result.value("popularity", "user_recommendations", "all", "ndcg", 10)
    bad = protocol.out_of_range(result.metrics)
    tables = report.summary_tables(result)
    yield dg.MaterializeResult(metadata={
        "headline": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in head.items()},
        "hybrid_lead": {name: ({"difference": round(d.difference, 4), "ci95": [round(d.low, 4), round(d.high, 4)],
                                "queries": d.n_queries} if d else None)
                        for name, d in paired.items()},
        "user_ndcg10_by_slice": metadata.preview(tables["user_ndcg10"], rows=20),
        "similar_ndcg10": metadata.preview(tables["similar_ndcg10"], rows=20),
        "content_vectors_ndcg10": metadata.preview(tables["content_ndcg10"], rows=10),
        "beyond_accuracy_k10": metadata.preview(tables["beyond"], rows=20),
        "queries": counts,
        "users_scored": inputs.history.n_users,
        "fusion": tuned["fusion"],
        "user_weights": tuned["user_recommendations"],
        "similar_weights": tuned["similar_items"],
        "report": dg.MetadataValue.md(markdown),
        **plot_meta,
        "dagster/row_count": result.metrics.height,
        "seconds": round(time.perf_counter() - started, 1),
        "path": dg.MetadataValue.path(str(gold)),
    })
    retraining.write_record(lake.path(keys.EVALUATION_STATE), data)
    yield from _checks(hybrid, popular, bad)


def _kept_evaluation(lake: LakeResource, decision: retraining.RetrainDecision):
    """The evaluation on disk, re-announced: same numbers, checks re-run on its metrics table."""
    metrics = lake.read(keys.EVALUATION_METRICS)
    report_path = lake.path(keys.EVALUATION_REPORT)
    yield dg.MaterializeResult(metadata={
        **decision_metadata(decision), "outcome": f"kept the evaluation of build {metrics['build_id'][0]}",
        "report": dg.MetadataValue.md(report_path.read_text() if report_path.exists() else "(no report)"),
        "dagster/row_count": metrics.height, "path": dg.MetadataValue.path(str(lake.path(keys.EVALUATION))),
    })
    hybrid, popular = (protocol.metric_value(metrics, model, "user_recommendations", "all", "ndcg", 10)
                       for model in ("hybrid", "popularity"))
    yield from _checks(hybrid, popular, protocol.out_of_range(metrics))


def _checks(hybrid: float | None, popular: float | None, bad: pl.DataFrame):
    yield dg.AssetCheckResult(check_name="hybrid_not_worse_than_popularity", asset_key=keys.EVALUATION,
                              severity=dg.AssetCheckSeverity.WARN, passed=hybrid is not None and popular is not None and hybrid >= popular,
                              metadata={"hybrid_ndcg10": hybrid or float("nan"), "popularity_ndcg10": popular or float("nan")})
    yield dg.AssetCheckResult(check_name="metrics_in_range", asset_key=keys.EVALUATION, passed=bad.is_empty(),
                              metadata={"out_of_range_rows": bad.height})
