"""The evaluation report: a Markdown page a reader understands at a glance, and its plots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recsys.evaluation.protocol import KS, MAIN_METRIC, EvaluationResult, comparison_table
from recsys.evaluation.significance import PairedDifference, paired_difference

USER_SLICES = ("all", "cold_start_users", "cold_start_items")
SIMILAR_SLICES = ("co_interaction", "attributes")
PROTOTYPE_TFIDF_SIMILAR_NDCG10 = 0.286
CONTENT_MODELS = ("text", "image", "fused_default", "fused_tuned")
# The report's table sections in order: heading, and the summary table (``summary_tables``) below it.
TABLE_SECTIONS = (
    ("User recommendations: NDCG@10 by slice", "user_ndcg10"),
    ("User recommendations: Recall@20 by slice", "user_recall20"),
    ("Similar items: NDCG@10 by relevance definition", "similar_ndcg10"),
    ("Content vectors: text only, image only, fused (stored default) and fused (tuned), NDCG@10", "content_ndcg10"),
    ("Beyond accuracy (user recommendations, k=10)", "beyond"),
)


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
        "content_ndcg10": _content_table(result),
        "beyond": (result.metrics.filter(pl.col("task") == "user_recommendations", pl.col("k") == 10,
                                         pl.col("metric").is_in(["coverage", "diversity", "novelty", "avg_popularity",
                                                                 "cold_item_share"]))
                   .pivot(on="metric", index="model", values="value").sort("model")),
    }


def _content_table(result: EvaluationResult) -> pl.DataFrame:
    """Text-only, image-only, default-fused and tuned-fused vectors side by side (NDCG@10, test)."""
    metric, k = MAIN_METRIC
    rows = result.metrics.filter(pl.col("model").is_in(list(CONTENT_MODELS)), pl.col("metric") == metric,
                                 pl.col("k") == k, pl.col("slice").is_in(["all", *SIMILAR_SLICES]))
    if rows.is_empty():
        return pl.DataFrame()
    table = (rows.with_columns(column=pl.concat_str(pl.col("task").replace({"user_recommendations": "user",
                                                                           "similar_items": "similar"}),
                                                    pl.lit(" "), pl.col("slice")))
             .pivot(on="column", index="model", values="value"))
    order = {name: i for i, name in enumerate(CONTENT_MODELS)}
    return table.sort(pl.col("model").replace_strict(order, default=len(order)))


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
        "hybrid_similar_ndcg10_attributes": result.value("hybrid", "similar_items", "attributes", metric, k),
        "hybrid_similar_ndcg10_co_interaction": result.value("hybrid", "similar_items", "co_interaction", metric, k),
        "hybrid_user_coverage10": result.value("hybrid", "user_recommendations", "all", "coverage", k),
    }


def _weights(weights: Mapping[str, float] | None) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in weights.items()) if weights else "defaults"


def _tuning_lines(tuned: Mapping | None) -> list[str]:
    """What was tuned on validation, with the objective before and after (the saved payload)."""
    if not tuned:
        return ["- Weights: built-in defaults (models/hybrid_weights was never materialized)."]
    checks = tuned.get("validation", {})
    lines = []
    fusion = tuned.get("fusion")
    if fusion:
        detail = checks.get("fusion", {})
        lines.append(f"- Text/image fusion tuned on **validation** (grid over the image weight, renormalised per "
                     f"product; products with one modality keep it): image {fusion['image']:g} / text "
                     f"{fusion['text']:g}; {detail.get('objective', '')}: {_fmt(detail.get('at_defaults'))} (stored "
                     f"fused vector) -> {_fmt(detail.get('tuned'))}. The FAISS index and both tables use these vectors.")
    for table in ("user_recommendations", "similar_items"):
        detail = checks.get(table, {})
        lines.append(f"- `{table}` re-ranking weights tuned on **validation** (coordinate ascent), never on test: "
                     f"{_weights(tuned.get(table))}; {detail.get('objective', '')}: {_fmt(detail.get('at_defaults'))} "
                     f"(defaults) -> {_fmt(detail.get('tuned'))}.")
    return lines


def paired_headline(result: EvaluationResult) -> dict[str, PairedDifference | None]:
    """The hybrid's lead over the best single model (all users) and over popularity (cold-start users),
    with paired-bootstrap 95% intervals of the NDCG@10 difference."""
    metric, k = MAIN_METRIC
    best = headline(result)["best_single_model"]
    user = result.rankings.filter(pl.col("task") == "user_recommendations")
    truth = result.ground_truth.filter(pl.col("task") == "user_recommendations")
    return {
        "hybrid_vs_best_single_all": paired_difference(user, truth.filter(pl.col("slice") == "all"), "hybrid", best,
                                                       metric, k) if best else None,
        "hybrid_vs_popularity_cold_users": paired_difference(
            user, truth.filter(pl.col("slice") == "cold_start_users"), "hybrid", "popularity", metric, k),
    }


def _lead(diff: PairedDifference | None) -> str:
    if diff is None:
        return "no query to compare on"
    verdict = "a real lead" if diff.low > 0 else ("a real deficit" if diff.high < 0 else "not distinguishable")
    return (f"difference {diff.difference:+.4f}, 95% paired-bootstrap interval [{diff.low:+.4f}, {diff.high:+.4f}] "
            f"over {diff.n_queries:,} users ({diff.wins:,} better, {diff.losses:,} worse): {verdict}")


def write_markdown(result: EvaluationResult, tuned: Mapping | None, counts: Mapping[str, int],
                   paired: Mapping[str, PairedDifference | None]) -> str:
    """The report; ``tuned``: the saved tuning payload; ``paired``: ``paired_headline(result)``."""
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
        *_tuning_lines(tuned),
        "- User task: history = train + validation interactions; relevant = the user's test items; owned items "
        "are never recommended. Slices: all users, cold-start users (<= 3 train items), cold-start items "
        "(relevance restricted to test items with no train interaction).",
        "- Similar-items task, `co_interaction`: relevant = products that the same users interacted with in the "
        "test split. No model reads test interactions, and content models read no interactions, so this is "
        "not leakage. The hybrid runs the production re-ranking with popularity from train + validation.",
        "- Similar-items task, `attributes`: relevant = same article type, gender and colour (Myntra styles "
        "with images). Text-based models (tfidf, text, fused_*, hybrid) read these attributes in their input text, "
        "so for them it measures attribute consistency, not generalisation; the image model reads pixels only.",
        f"- Queries: {', '.join(f'{k} {v:,}' for k, v in counts.items())}.",
        "",
        "## Headline",
        f"- Hybrid NDCG@10 (all users): **{_fmt(head['hybrid_ndcg10_all'])}** vs best single model "
        f"`{head['best_single_model']}` {_fmt(head['best_single_ndcg10_all'])}: "
        f"{_lead(paired['hybrid_vs_best_single_all'])}.",
        f"- Cold-start users NDCG@10: hybrid **{_fmt(head['hybrid_ndcg10_cold_users'])}** vs popularity "
        f"{_fmt(head['popularity_ndcg10_cold_users'])}: {_lead(paired['hybrid_vs_popularity_cold_users'])}.",
        f"- TF-IDF similar items NDCG@10: attributes {_fmt(head['tfidf_similar_ndcg10_attributes'])}, co-interaction "
        f"{_fmt(head['tfidf_similar_ndcg10_co_interaction'])} (the original prototype reported "
        f"{PROTOTYPE_TFIDF_SIMILAR_NDCG10} with its own protocol, goal > 0.35); the hybrid similar items (the table): "
        f"attributes {_fmt(head['hybrid_similar_ndcg10_attributes'])}, co-interaction "
        f"{_fmt(head['hybrid_similar_ndcg10_co_interaction'])}.",
        f"- Catalog coverage of the hybrid's top 10 over the evaluated users: {_fmt(head['hybrid_user_coverage10'])}.",
        "",
        *(line for heading, table in TABLE_SECTIONS for line in (f"## {heading}", _markdown(tables[table]), "")),
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


def query_counts(result: EvaluationResult) -> dict[str, int]:
    """Queries scored per task and slice (``task/slice``)."""
    return {f"{task}/{name}": n for task, name, n in result.ground_truth.group_by("task", "slice")
            .agg(pl.col("query_id").n_unique()).sort("task", "slice").iter_rows()}


@dataclass(frozen=True)
class WrittenReport:
    markdown: str
    headline: dict[str, float | None]
    paired: dict[str, PairedDifference | None]
    query_counts: dict[str, int]


def write_report(result: EvaluationResult, tuned: Mapping | None, path: Path) -> WrittenReport:
    """The Markdown report written to ``path``, with the numbers it headlines."""
    counts, paired = query_counts(result), paired_headline(result)
    markdown = write_markdown(result, tuned, counts, paired)
    Path(path).write_text(markdown)
    return WrittenReport(markdown, headline(result), paired, counts)
