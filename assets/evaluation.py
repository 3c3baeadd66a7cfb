"""Evaluation: the tables' weights tuned on validation, then every model scored on test with a report."""

import time
from dataclasses import dataclass

import dagster as dg
import polars as pl

from assets import keys, metadata
from assets.defaults import field_default, from_config, parameter_default
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
    k: int = field_default(HeldoutSettings, "k")
    candidates_per_source: int = field_default(HeldoutSettings, "candidates_per_source")
    similar_queries: int = field_default(HeldoutSettings, "similar_queries")
    """Products sampled as queries for each similar-items relevance definition (test)."""
    max_users: int = 20_000
    """Users scored at most (a fixed sample beyond it): evaluation cost stops growing with the user base."""
    seed: int = field_default(HeldoutSettings, "seed")
    retrain: RetrainConfig = RetrainConfig()
    """When to score again; the evaluation is also redone whenever a model or the tuned weights change."""


class TuningConfig(dg.Config):
    k: int = parameter_default(tune_on_validation, "k")
    """The validation objective is NDCG at this k."""
    candidates_per_source: int = parameter_default(tune_on_validation, "candidates_per_source")
    similar_queries: int = parameter_default(tune_on_validation, "similar_queries")
    """Products sampled as similar-items queries for each validation relevance definition (co-interaction in
    the validation split; attributes on the validation half of the catalog)."""
    max_users: int = 10_000
    """Users the weights are tuned on at most (a fixed sample beyond it): every trial ranks them all."""
    seed: int = parameter_default(tune_on_validation, "seed")
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


def _tune(lake: LakeResource, config: TuningConfig, record) -> dict:
    """Tune the weights on validation, save them and their record; what the UI shows of the tuning."""
    started = time.perf_counter()
    inputs = _inputs(lake, ["train"], config.max_users, config.seed)
    tuned = tune_on_validation(inputs, k=config.k, candidates_per_source=config.candidates_per_source,
                               similar_queries=config.similar_queries, seed=config.seed)
    tuning.save_tuned_weights(lake.path(keys.HYBRID_WEIGHTS), tuned.user, DEFAULT_USER_WEIGHTS, tuned.similar,
                              DEFAULT_SIMILAR_WEIGHTS, tuned.fusion)
    record(lake.path(keys.TUNING_STATE))
    results = {"fusion": tuned.fusion, "user_recommendations": tuned.user, "similar_items": tuned.similar}
    return {
        "fusion": {"image": tuned.fusion.image_weight, "text": 1.0 - tuned.fusion.image_weight},
        "user_weights": tuned.user.weights,
        "similar_weights": tuned.similar.weights,
        "validation": {name: {"objective": r.objective, "at_defaults": round(r.start, 4), "tuned": round(r.best, 4)}
                       for name, r in results.items()},
        "fusion_trials": metadata.preview(pl.DataFrame(tuned.fusion.trials), rows=10),
        "user_trials": _best_trials(tuned.user),
        "similar_trials": _best_trials(tuned.similar),
        "validation_queries": tuned.queries,
        "users_scored": inputs.history.n_users,
        "seconds": {**tuned.seconds, "total": round(time.perf_counter() - started, 1)},
    }


def _saved_weights(lake: LakeResource) -> dict | None:
    """The saved weights as the UI shows them; None when there are none."""
    saved = tuning.load_tuned(lake.path(keys.HYBRID_WEIGHTS))
    return None if saved is None else {
        "fusion": saved["fusion"], "user_weights": saved["user_recommendations"],
        "similar_weights": saved["similar_items"], "tuned_at": retraining.trained_at(lake.path(keys.TUNING_STATE))}


@dg.asset(
    code_version="2026-12-07",
    key=keys.HYBRID_WEIGHTS, group_name=GROUP, kinds={"python", "json"}, deps=MODEL_INPUTS,
    description="Weights the index and tables use, tuned on the VALIDATION split (never test): the text/image "
                "fusion weight (grid), user_recommendations and similar_items re-ranking weights (coordinate ascent "
                "on NDCG@10). models/hybrid_weights.json.",
)
def hybrid_weights(context: dg.AssetExecutionContext, config: TuningConfig, lake: LakeResource):
    outcome = retraining.fit_or_pin(lake.path(keys.TUNING_STATE), stage_data(lake, config, "validation"),
                                    config.retrain.policy(), pinned=lambda: _saved_weights(lake),
                                    fit=lambda record: _tune(lake, config, record))
    context.log.info("hybrid weights %s: %s", "tuned" if outcome.fitted else "pinned", outcome.decision.reason)
    return dg.MaterializeResult(metadata={**decision_metadata(outcome.decision), **outcome.result,
                                          "path": dg.MetadataValue.path(str(lake.path(keys.HYBRID_WEIGHTS)))})


@dataclass(frozen=True)
class _Scored:
    """The evaluation as the asset announces it: metadata, and what its checks compare."""

    metadata: dict
    hybrid: float | None
    popular: float | None
    out_of_range: pl.DataFrame


def _score(context: dg.AssetExecutionContext, lake: LakeResource, config: EvaluationConfig, record) -> _Scored:
    """Every model on test: the tables and report written to gold/evaluation, then the record."""
    tuned = tuning.load_tuned(lake.path(keys.HYBRID_WEIGHTS))
    if tuned is None or "fusion" not in tuned:
        raise FileNotFoundError(f"{keys.lake_path(keys.HYBRID_WEIGHTS)} is missing or predates fusion tuning: "
                                "materialize models/hybrid_weights first")
    settings = from_config(HeldoutSettings, config)
    inputs = _inputs(lake, ["train", "validation"], config.max_users, config.seed)
    result = evaluate_on_test(inputs, tuned, settings, build_id=context.run.run_id)
    gold = lake.path(keys.EVALUATION)
    gold.mkdir(parents=True, exist_ok=True)
    lake.write(result.metrics, keys.EVALUATION_METRICS)
    lake.write(result.rankings, keys.EVALUATION_RANKINGS)
    lake.write(result.ground_truth, keys.EVALUATION_GROUND_TRUTH)
    written = report.write_report(result, tuned, lake.path(keys.EVALUATION_REPORT))
    plots = {f"plot_{name}": metadata.png(fig, save_to=gold / f"{name}.png")
             for name, fig in report.plots(result).items()}
    record(lake.path(keys.EVALUATION_STATE))
    tables = report.summary_tables(result)
    return _Scored({
        "headline": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in written.headline.items()},
        "hybrid_lead": {name: ({"difference": round(d.difference, 4), "ci95": [round(d.low, 4), round(d.high, 4)],
                                "queries": d.n_queries} if d else None) for name, d in written.paired.items()},
        "user_ndcg10_by_slice": metadata.preview(tables["user_ndcg10"], rows=20),
        "similar_ndcg10": metadata.preview(tables["similar_ndcg10"], rows=20),
        "content_vectors_ndcg10": metadata.preview(tables["content_ndcg10"], rows=10),
        "beyond_accuracy_k10": metadata.preview(tables["beyond"], rows=20),
        "queries": written.query_counts, "users_scored": inputs.history.n_users, "fusion": tuned["fusion"],
        "user_weights": tuned["user_recommendations"], "similar_weights": tuned["similar_items"],
        "report": dg.MetadataValue.md(written.markdown), **plots, "dagster/row_count": result.metrics.height,
    }, written.headline["hybrid_ndcg10_all"], result.value("popularity", "user_recommendations", "all", "ndcg", 10),
        protocol.out_of_range(result.metrics))


def _kept(lake: LakeResource) -> _Scored | None:
    """The evaluation on disk, re-announced: same numbers, checks re-run on its metrics table."""
    if not lake.has_table(keys.EVALUATION_METRICS):
        return None
    metrics = lake.read(keys.EVALUATION_METRICS)
    report_path = lake.path(keys.EVALUATION_REPORT)
    hybrid, popular = (protocol.metric_value(metrics, model, "user_recommendations", "all", "ndcg", 10)
                       for model in ("hybrid", "popularity"))
    return _Scored({"outcome": f"kept the evaluation of build {metrics['build_id'][0]}",
                    "report": dg.MetadataValue.md(report_path.read_text() if report_path.exists() else "(no report)"),
                    "dagster/row_count": metrics.height}, hybrid, popular, protocol.out_of_range(metrics))


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
    outcome = retraining.fit_or_pin(lake.path(keys.EVALUATION_STATE), data, config.retrain.policy(),
                                    pinned=lambda: _kept(lake),
                                    fit=lambda record: _score(context, lake, config, record))
    context.log.info("evaluation %s: %s", "scored" if outcome.fitted else "kept (models, weights and test split as "
                     "scored)", outcome.decision.reason)
    scored = outcome.result
    timing = {"seconds": round(time.perf_counter() - started, 1)} if outcome.fitted else {}
    yield dg.MaterializeResult(metadata={**({} if outcome.fitted else decision_metadata(outcome.decision)),
                                         **scored.metadata, **timing,
                                         "path": dg.MetadataValue.path(str(lake.path(keys.EVALUATION)))})
    yield dg.AssetCheckResult(check_name="hybrid_not_worse_than_popularity", asset_key=keys.EVALUATION,
                              severity=dg.AssetCheckSeverity.WARN,
                              passed=scored.hybrid is not None and scored.popular is not None
                              and scored.hybrid >= scored.popular,
                              metadata={"hybrid_ndcg10": scored.hybrid or float("nan"),
                                        "popularity_ndcg10": scored.popular or float("nan")})
    yield dg.AssetCheckResult(check_name="metrics_in_range", asset_key=keys.EVALUATION,
                              passed=scored.out_of_range.is_empty(),
                              metadata={"out_of_range_rows": scored.out_of_range.height})
