"""Figures describing an interaction table: activity per user and the popularity long tail."""

from __future__ import annotations

import numpy as np
import polars as pl


def activity_figure(interactions: pl.DataFrame):
    """Two panels: distinct products per user (histogram, log x) and users per product by rank (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_user = interactions.group_by("user_id").agg(pl.col("product_id").n_unique())["product_id"].to_numpy()
    per_item = interactions.group_by("product_id").agg(pl.col("user_id").n_unique())["user_id"].to_numpy()
    per_item = np.sort(per_item)[::-1]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    if len(per_user):
        bins = np.unique(np.logspace(0, np.log10(max(per_user.max(), 2)), 30).astype(int))
        left.hist(per_user, bins=bins)
        left.set_xscale("log")
    left.set(title="products per user", xlabel="distinct products", ylabel="users")
    if len(per_item):
        right.loglog(np.arange(1, len(per_item) + 1), per_item)
    right.set(title="popularity long tail", xlabel="product rank", ylabel="distinct users")
    figure.tight_layout()
    return figure
