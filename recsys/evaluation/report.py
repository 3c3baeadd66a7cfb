"""The evaluation report: a Markdown page a reader understands at a glance, and its plots."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from recsys.evaluation.protocol import KS, MAIN_METRIC, EvaluationResult, comparison_table
from recsys.evaluation.tuning import TuningResult

USER_SLICES = ("all", "cold_start_users", "cold_start_items")
SIMILAR_SLICES = ("co_interaction", "attributes")
PROTOTYPE_TFIDF_SIMILAR_NDCG10 = 0.286


def _markdown(frame: pl.DataFrame, digits: int = 4) -> str:
    if frame.is_empty():
        return "(no rows)"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = [header, rule]
    for row in frame.iter_rows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_tables(result: EvaluationResult) -> dict[str, pl.DataFrame]:
    metric, k = MAIN_METRIC
    return {
        "user_ndcg10": comparison_table(result.metrics, "user_recommendations", metric, k, USER_SLICES),
        "user_recall20": comparison_table(result.metrics, "user_recommendations", "recall", 20, USER_SLICES),
        "similar_ndcg10": comparison_table(result.metrics, "similar_items", metric, k, SIMILAR_SLICES),
        "beyond": (result.metrics.filter(pl.col("task") == "user_recommendations", pl.col("k") == 10,
                                         pl.col("metric").is_in(["coverage", "diversity", "novelty", "avg_popularity",
                                                                 "cold_item_share"]))
                   .pivot(on="metric", index="model", values="value").sort("model")),
    }


def headline(result: EvaluationResult) -> dict[str, float | None]:
    """The numbers the issue's targets are about."""
    metric, k = MAIN_METRIC
    user = result.metrics.filter(pl.col("task") == "user_recommendations", pl.col("metric") == metric, pl.col("k") == k)
    singles = user.filter(pl.col("slice") == "all", ~pl.col("model").is_in(["hybrid", "random"]))
    best_single = singles.sort("value", descending=True).row(0, named=True) if singles.height else None
    return {
        "hybrid_ndcg10_all": result.value("hybrid", "user_recommendations", "all", metric, k),
        "best_single_ndcg10_all": best_single["value"] if best_single else None,
        "best_single_model": best_single["model"] if best_single else None,
        "hybrid_ndcg10_cold_users": result.value("hybrid", "user_recommendations", "cold_start_users", metric, k),
        "popularity_ndcg10_cold_users": result.value("popularity", "user_recommendations", "cold_start_users", metric, k),
        "tfidf_similar_ndcg10_attributes": result.value("tfidf", "similar_items", "attributes", metric, k),
        "tfidf_similar_ndcg10_co_interaction": result.value("tfidf", "similar_items", "co_interaction", metric, k),
    }


def write_markdown(result: EvaluationResult, tuning: TuningResult | None, counts: Mapping[str, int]) -> str:
    tables = summary_tables(result)
    head = headline(result)
    lines = [
        "# Evaluation report",
        "",
        "Offline metrics on the held-out **test** split; every number can be recomputed from "
        "`gold/evaluation/rankings.parquet` and `gold/evaluation/ground_truth.parquet`.",
        "",
        "## Protocol",
        "- Time-based split per user (train / validation / test); models train on train only.",
        "- Hybrid weights are tuned on **validation** (coordinate ascent on NDCG@10), never on test"
        + (f": `{tuning.weights}` (validation {tuning.objective}: {tuning.start:.4f} -> {tuning.best:.4f})."
           if tuning else "."),
        "- User task: history = train + validation interactions; relevant = the user's test items; owned items "
        "are never recommended. Slices: all users, cold-start users (<= 3 train items), cold-start items "
        "(relevance restricted to test items with no train interaction).",
        "- Similar-items task, `co_interaction`: relevant = products that the same users interacted with in the "
        "test split. No model reads test interactions, and content models read no interactions, so this is "
        "not leakage.",
        "- Similar-items task, `attributes`: relevant = same article type, gender and colour (Myntra styles "
        "with images). Text-based models (tfidf, text, fused, hybrid) read these attributes in their input text, "
        "so for them it measures attribute consistency, not generalisation; the image model reads pixels only.",
        f"- Queries: {', '.join(f'{k} {v:,}' for k, v in counts.items())}.",
        "",
        "## Headline",
        f"- Hybrid NDCG@10 (all users): **{_fmt(head['hybrid_ndcg10_all'])}** vs best single model "
        f"`{head['best_single_model']}` {_fmt(head['best_single_ndcg10_all'])}.",
        f"- Cold-start users NDCG@10: hybrid **{_fmt(head['hybrid_ndcg10_cold_users'])}** vs popularity "
        f"{_fmt(head['popularity_ndcg10_cold_users'])}.",
        f"- TF-IDF similar items NDCG@10: attributes {_fmt(head['tfidf_similar_ndcg10_attributes'])}, co-interaction "
        f"{_fmt(head['tfidf_similar_ndcg10_co_interaction'])} (the original prototype reported "
        f"{PROTOTYPE_TFIDF_SIMILAR_NDCG10} with its own protocol, goal > 0.35).",
        "",
        "## User recommendations: NDCG@10 by slice",
        _markdown(tables["user_ndcg10"]),
        "",
        "## User recommendations: Recall@20 by slice",
        _markdown(tables["user_recall20"]),
        "",
        "## Similar items: NDCG@10 by relevance definition",
        _markdown(tables["similar_ndcg10"]),
        "",
        "## Beyond accuracy (user recommendations, k=10)",
        _markdown(tables["beyond"]),
        "",
        f"Metrics at k in {list(KS)}: precision, recall, ndcg (linear gain, ideal DCG over min(k, |rel|)), "
        "map (AP divided by min(k, |rel|)), mrr, hit_rate; definitions in `recsys/evaluation/metrics.py`.",
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def plots(result: EvaluationResult):
    """Figures: main metric by model and slice (both tasks), and NDCG by k for the user task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    for task, slices in (("user_recommendations", USER_SLICES), ("similar_items", SIMILAR_SLICES)):
        table = comparison_table(result.metrics, task, MAIN_METRIC[0], MAIN_METRIC[1], slices)
        if table.is_empty():
            continue
        fig, ax = plt.subplots(figsize=(9, 3.6))
        models = table["model"].to_list()
        present = [s for s in slices if s in table.columns]
        width = 0.8 / max(len(present), 1)
        for i, s in enumerate(present):
            ax.bar([x + i * width for x in range(len(models))], table[s].fill_null(0).to_list(), width, label=s)
        ax.set_xticks([x + width * (len(present) - 1) / 2 for x in range(len(models))], models, rotation=30)
        ax.set_ylabel("NDCG@10")
        ax.set_title(f"{task}: NDCG@10 by model and slice (test)")
        ax.legend(fontsize=8)
        figures[f"{task}_by_slice"] = fig
    by_k = result.metrics.filter(pl.col("task") == "user_recommendations", pl.col("slice") == "all",
                                 pl.col("metric") == "ndcg")
    if by_k.height:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for (model,), group in by_k.sort("k").group_by("model", maintain_order=True):
            ax.plot(group["k"], group["value"], marker="o", label=model)
        ax.set_xlabel("k")
        ax.set_ylabel("NDCG@k")
        ax.set_title("user_recommendations (all users): NDCG by k")
        ax.legend(fontsize=7, ncol=2)
        figures["user_ndcg_by_k"] = fig
    return figures
