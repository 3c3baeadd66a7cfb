"""Figures of the image tower's training, for the asset metadata (matplotlib, no Dagster)."""


def tower_curve_figure(summary: dict):
    """The image tower's training: loss by epoch, held-out retrieval and zero-shot accuracy against the
    ridge baseline (``summary``: a tower fit's summary)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = summary["curve"]
    epochs = [r["epoch"] for r in curve]
    fig, left = plt.subplots(figsize=(7, 3.6))
    left.plot(epochs, [r["loss"] for r in curve], "o-", color="tab:gray", label="training loss")
    left.set_xlabel("epoch")
    left.set_ylabel("InfoNCE loss")
    right = left.twinx()
    for metric, colour in (("text_to_image@10", "tab:blue"), ("zero_shot_accuracy", "tab:orange")):
        if curve and metric in curve[0]["heldout"]:
            right.plot(epochs, [r["heldout"][metric] for r in curve], "s-", color=colour, label=f"held-out {metric}")
            ridge = summary["metrics"].get("ridge", {}).get(metric)
            if ridge is not None:
                right.axhline(ridge, color=colour, linestyle=":", label=f"ridge baseline {metric}")
    right.set_ylim(0, 1)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="center right")
    left.set_title(f"image tower: {summary['train_pairs']} training pairs, {summary['heldout_pairs']} held out "
                   "(curve before the text-memory readout)", fontsize=9)
    return fig
