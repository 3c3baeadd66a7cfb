"""Interactions: silver/interactions (real events or the persona simulator) and the time split."""

import json
import time
from typing import Literal

import dagster as dg
import polars as pl

from assets import keys, metadata
from assets.defaults import field_default, from_config
from assets.raw import events_raw
from recsys import storage
from recsys.interactions import (SimulatorSettings, SplitSettings, build_interactions, cold_start_items, cold_start_users,
                                 leakage_report, split_interactions)
from recsys.interactions.build import InteractionsBuild, simulator_settings
from recsys.interactions.plots import activity_figure
from recsys.interactions.quality import interaction_problems, systemic_faults
from recsys.interactions.split import COLD_USER_MAX_TRAIN_ITEMS
from resources import LakeResource

GROUP = "interactions"


class InteractionsConfig(dg.Config):
    """Where interactions come from; the simulator settings apply only when simulating. ``min_events`` and
    ``rejected_file_share`` set the blocking ``events_load`` check: a load of fewer interactions is empty, and
    a real events file with at least that share of its records quarantined is rejected as a whole."""

    source: Literal["auto", "real", "simulated"] = "auto"
    scale: Literal["sample", "benchmark"] = "sample"
    n_users: int | None = None          # overrides the scale's user count
    seed: int = field_default(SimulatorSettings, "seed")
    weeks: int = field_default(SimulatorSettings, "weeks")
    min_events: int = 1
    rejected_file_share: float = 1.0    # 1.0: only a file whose every record is quarantined blocks

    def simulator(self) -> SimulatorSettings:
        preset = SimulatorSettings.benchmark if self.scale == "benchmark" else SimulatorSettings.sample
        overrides = {"seed": self.seed, "weeks": self.weeks}
        if self.n_users is not None:
            overrides["n_users"] = self.n_users
        return preset(**overrides)


@dg.asset(
    code_version="2026-12-07",
    key=keys.INTERACTIONS, group_name=GROUP, deps=[keys.SILVER_PRODUCTS, events_raw],
    kinds={"python", "polars", "parquet"},
    description="One row per user event (docs/lake.md: silver/interactions): real events from raw/events/ when present, "
                "otherwise the persona simulator. Rejected event rows go to silver/events_quarantine.parquet; "
                "repeated rows of a date-only log count as quantity (value).",
    check_specs=[
        dg.AssetCheckSpec("interactions_valid", asset=keys.INTERACTIONS, blocking=True,
                          description="Known products, no nulls, ratings on the scale, no duplicate events."),
        dg.AssetCheckSpec("events_accounting", asset=keys.INTERACTIONS, blocking=True,
                          description="Every raw event record is one interaction, one quarantine row, or one unit "
                                      "merged into an identical row's quantity."),
        dg.AssetCheckSpec("events_load", asset=keys.INTERACTIONS, blocking=True,
                          description="Not an empty load, and no events file rejected as a whole (config "
                                      "min_events, rejected_file_share)."),
        dg.AssetCheckSpec("events_row_faults", asset=keys.INTERACTIONS,
                          description="Warns when event rows were quarantined (counted by reason)."),
    ],
)
def silver_interactions(context: dg.AssetExecutionContext, config: InteractionsConfig, lake: LakeResource):
    products = lake.read(keys.SILVER_PRODUCTS)
    settings_path = lake.path(keys.SIMULATOR_SETTINGS)
    previous_settings = json.loads(settings_path.read_text()) if settings_path.exists() else None
    build = build_interactions(lake.raw_dir, products, source=config.source, simulator=config.simulator(),
                               previous=lake.read_if_exists(keys.INTERACTIONS) if previous_settings else None,
                               previous_settings=previous_settings)
    # The settings file names the simulated log now in the lake; a real log must not be taken for one.
    settings_path.unlink(missing_ok=True)
    lake.write(build.interactions, keys.INTERACTIONS)
    lake.write(build.quarantine, keys.EVENTS_QUARANTINE)
    if build.origin == "simulated":
        storage.write_text_atomic(settings_path, json.dumps(simulator_settings(build.simulator), indent=2))
    events = build.interactions
    context.log.info("%s interactions%s: %d events, %d users, %d products in %.1fs; %d quarantined", build.origin,
                     " (kept from the previous build)" if build.kept_from_previous else "", events.height,
                     events["user_id"].n_unique(), events["product_id"].n_unique(), build.seconds,
                     build.quarantine.height)
    return dg.MaterializeResult(metadata=_interactions_metadata(build, products, lake),
                                check_results=_interactions_checks(build, products, config))


def _interactions_metadata(build: InteractionsBuild, products: pl.DataFrame, lake: LakeResource) -> dict:
    events = build.interactions
    quarantine_reasons = build.events_read.quarantine_by_reason() if build.events_read else {}
    by_event = {e: n for e, n in events.group_by("event").len().sort("len", descending=True).iter_rows()}
    return {
        "dagster/row_count": events.height,
        "origin": build.origin,
        "users": events["user_id"].n_unique(),
        "products_touched": events["product_id"].n_unique(),
        "catalog_products": products.height,
        "events_by_type": metadata.counts(by_event, "event", "rows"),
        "first_event": str(events["ts"].min()),
        "last_event": str(events["ts"].max()),
        "quarantined": build.quarantine.height,
        "quarantine_by_reason": metadata.counts(quarantine_reasons, "reason", "rows"),
        "merged_as_quantity": build.events_read.merged.height if build.events_read else 0,
        "event_files": metadata.preview(build.file_summary(), rows=50),
        "simulator": str(build.simulator) if build.simulator else "not used (real events)",
        "kept_from_previous_build": build.kept_from_previous,
        "dropped_events_on_removed_products": build.dropped_removed_products,
        "seconds": round(build.seconds, 2),
        "activity": metadata.png(activity_figure(events)),
        "preview": metadata.preview(events),
        "path": dg.MetadataValue.path(str(lake.table_path(keys.INTERACTIONS))),
        "quarantine_path": dg.MetadataValue.path(str(lake.table_path(keys.EVENTS_QUARANTINE))),
    }


def _interactions_checks(build: InteractionsBuild, products: pl.DataFrame,
                         config: InteractionsConfig) -> list[dg.AssetCheckResult]:
    events, read = build.interactions, build.events_read
    problems = interaction_problems(events, products["product_id"])
    faults = systemic_faults(build.file_summary(), events.height, config.min_events, config.rejected_file_share)
    merged = read.merged.height if read else 0
    reasons = read.quarantine_by_reason() if read else {}
    return [
        dg.AssetCheckResult(check_name="interactions_valid", passed=not any(problems.values()),
                            metadata={k: int(v) for k, v in problems.items()}),
        dg.AssetCheckResult(check_name="events_accounting", passed=read.accounting_balanced() if read else True,
                            metadata={"records_read": read.records if read else 0, "interactions": events.height,
                                      "quarantined": build.quarantine.height, "merged_as_quantity": merged}),
        dg.AssetCheckResult(check_name="events_load", passed=not faults,
                            metadata={"faults": "\n".join(faults) or "none", "min_events": config.min_events,
                                      "rejected_file_share": config.rejected_file_share}),
        dg.AssetCheckResult(check_name="events_row_faults", passed=not reasons, severity=dg.AssetCheckSeverity.WARN,
                            metadata={"quarantined": build.quarantine.height,
                                      "by_reason": metadata.counts(reasons, "reason", "rows")}),
    ]


class InteractionSplitConfig(dg.Config):
    validation_fraction: float = field_default(SplitSettings, "validation_fraction")
    test_fraction: float = field_default(SplitSettings, "test_fraction")
    new_user_fraction: float = field_default(SplitSettings, "new_user_fraction")
    new_user_history: int = field_default(SplitSettings, "new_user_history")
    seed: int = field_default(SplitSettings, "seed")
    cold_user_max_train_items: int = COLD_USER_MAX_TRAIN_ITEMS   # only for the slice sizes shown


@dg.asset(
    code_version="2026-12-07",
    key=keys.INTERACTION_SPLIT, group_name=GROUP, deps=[keys.INTERACTIONS], kinds={"python", "polars", "parquet"},
    description="Time-based per-user train/validation/test split of silver/interactions (pairs never straddle "
                "splits), with new-user truncation for the cold-start slice. The same split feeds every model "
                "and the evaluation.",
    check_specs=[dg.AssetCheckSpec("no_leakage", asset=keys.INTERACTION_SPLIT, blocking=True,
                                   description="No pair in two splits; per user train <= validation <= test in time."),
                 dg.AssetCheckSpec("training_events_present", asset=keys.INTERACTION_SPLIT, blocking=True,
                                   description="The train split has events: without any, no model can be trained "
                                               "and every user table would be empty (e.g. every raw event "
                                               "quarantined). A few events are enough to go on.")],
)
def interaction_split(context: dg.AssetExecutionContext, config: InteractionSplitConfig, lake: LakeResource):
    started = time.perf_counter()
    interactions = lake.read(keys.INTERACTIONS)
    result = split_interactions(interactions, from_config(SplitSettings, config))
    lake.write(result.frame, keys.INTERACTION_SPLIT)
    frame = result.frame
    leaks = leakage_report(frame)
    cold_users = cold_start_users(frame, config.cold_user_max_train_items)
    cold_items = cold_start_items(frame)
    per_split = frame.group_by("split").agg(events=pl.len(), pairs=pl.struct("user_id", "product_id").n_unique(),
                                            users=pl.col("user_id").n_unique(),
                                            products=pl.col("product_id").n_unique()).sort("split")
    seconds = time.perf_counter() - started
    train_events = result.counts().get("train", 0)
    context.log.info("split %d events: %s; %d cold-start users, %d cold-start items (%.1fs)", frame.height,
                     result.counts(), len(cold_users), len(cold_items), seconds)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "events_by_split": metadata.counts(result.counts(), "split", "events"),
            "per_split": metadata.preview(per_split),
            "cold_start_users": len(cold_users),
            "cold_start_items": len(cold_items),
            "new_users_truncated": result.new_users,
            "events_dropped_after_cutoff": result.dropped_after_cutoff,
            "seconds": round(seconds, 2),
            "preview": metadata.preview(frame),
            "path": dg.MetadataValue.path(str(lake.table_path(keys.INTERACTION_SPLIT))),
        },
        check_results=[dg.AssetCheckResult(check_name="no_leakage", passed=not any(leaks.values()), metadata=leaks),
                       dg.AssetCheckResult(check_name="training_events_present", passed=train_events > 0,
                                           description=f"{train_events:,} train events of {frame.height:,}",
                                           metadata={"train_events": train_events})],
    )

