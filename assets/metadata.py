"""Metadata values a user looks for in the Dagster UI: previews, counts, timings, plots."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import polars as pl


def column_schema(schema: Mapping[str, pl.DataType], descriptions: Mapping[str, str]) -> dg.TableSchema:
    """A table's columns, types and meanings as the UI's column schema (``dagster/column_schema``)."""
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype), description=descriptions.get(name))
                                   for name, dtype in schema.items()])


def preview(df: pl.DataFrame, columns: list[str] | None = None, rows: int = 10) -> dg.MarkdownMetadataValue:
    """A Markdown preview of the first rows (long strings shortened)."""
    frame = df.select(columns) if columns else df
    frame = frame.head(rows).with_columns(
        pl.col(c).cast(pl.String).str.slice(0, 60) for c, t in frame.schema.items() if t != pl.String()
    ).with_columns(pl.col(pl.String).str.slice(0, 60).str.replace_all(r"[|\n]", " "))
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True,
                   tbl_rows=rows, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=10_000):
        return dg.MetadataValue.md(str(frame))


def counts(mapping: dict[str, int], key: str = "value", value: str = "count") -> dg.MarkdownMetadataValue:
    """A two-column Markdown table of counts."""
    lines = [f"| {key} | {value} |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,} |" for k, v in mapping.items()]
    return dg.MetadataValue.md("\n".join(lines) if mapping else "(none)")


def png(figure, save_to: Path | None = None) -> dg.MarkdownMetadataValue:
    """A matplotlib figure embedded in Markdown (the UI renders data-URI images); also saved to
    ``save_to`` when given, for readers of the lake."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    if save_to is not None:
        save_to.write_bytes(buffer.getvalue())
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")


def score_plot(table: pl.DataFrame, by: str, title: str) -> dg.MarkdownMetadataValue:
    """A list table's scores: their distribution per ``by`` group, and median (p10-p90) by rank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, group in table.group_by(by, maintain_order=True):
        left.hist(group["score"].to_numpy(), bins=40, alpha=0.6, label=str(name[0]))
    left.set_xlabel("score")
    left.set_ylabel("rows")
    left.legend(title=by, fontsize=8)
    per_rank = table.group_by("rank").agg(pl.col("score").median().alias("median"),
                                          pl.col("score").quantile(0.1).alias("p10"),
                                          pl.col("score").quantile(0.9).alias("p90")).sort("rank")
    right.plot(per_rank["rank"], per_rank["median"], label="median")
    right.fill_between(per_rank["rank"], per_rank["p10"], per_rank["p90"], alpha=0.3, label="p10-p90")
    right.set_xlabel("rank")
    right.set_ylabel("score")
    right.legend(fontsize=8)
    fig.suptitle(title)
    return png(fig)


def named_sample(table: pl.DataFrame, products: pl.DataFrame, key: str, item: str, sort_by: list[str],
                 lists: int = 3, rows: int = 5) -> dg.MarkdownMetadataValue:
    """The first ``rows`` of ``lists`` evenly spaced lists of a list table, with product names."""
    names = products.select("product_id", "name")
    keys = table.select(key).unique(maintain_order=True)
    chosen = keys.gather_every(max(1, table[key].n_unique() // lists)).head(lists)
    sample = (table.join(chosen, on=key).filter(pl.col("rank") <= rows)
              .join(names.rename({"product_id": item, "name": "recommended"}), on=item, how="left"))
    if key == "product_id":
        sample = sample.join(names.rename({"name": "for_product"}), on="product_id", how="left")
    columns = [c for c in [*sort_by, "for_product", "rank", "recommended", "score", "reason", "model"]
               if c in sample.columns]
    return preview(sample.sort([*sort_by, "rank"]).select(columns), rows=lists * rows)


def picture(image) -> dg.MarkdownMetadataValue:
    """A PIL image (a contact sheet) embedded like a plot, at its own size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axis = plt.subplots(figsize=(image.width / 90, image.height / 90))
    axis.imshow(np.asarray(image))
    axis.axis("off")
    return png(figure)
