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
