"""silver/interactions: real events when ``raw/events/`` has files, otherwise the persona simulator.

A simulated log is history, like a real one: once simulated it is kept by later builds with the
same simulator settings (events on products that left the catalog are dropped and counted), so a
small catalog change does not re-draw every user's events. New products start cold, as they
would in a shop. Changing the simulator settings simulates afresh.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from recsys.catalog.schema import QUARANTINE_SCHEMA
from recsys.interactions.events import FILE_SUMMARY_SCHEMA, EventsResult, event_files, read_events
from recsys.interactions.simulator import SimulatorSettings, simulate

SOURCES = ("auto", "real", "simulated")


@dataclass
class InteractionsBuild:
    interactions: pl.DataFrame             # INTERACTION_SCHEMA
    quarantine: pl.DataFrame               # QUARANTINE_SCHEMA, source 'events' (empty when simulated)
    origin: str                            # 'real' | 'simulated'
    seconds: float
    events_read: EventsResult | None = None
    simulator: SimulatorSettings | None = None
    files: dict[str, int] = field(default_factory=dict)
    kept_from_previous: bool = False       # a simulated log carried over from the previous build
    dropped_removed_products: int = 0      # carried events whose product left the catalog

    def file_summary(self) -> pl.DataFrame:
        """Per events file read: records, quarantined, merged as quantity, resolution (none when simulated)."""
        return self.events_read.file_summary() if self.events_read else pl.DataFrame(schema=FILE_SUMMARY_SCHEMA)


def simulator_settings(config: SimulatorSettings) -> dict:
    """The settings a simulated log was drawn with (JSON-ready), to decide whether it can be kept."""
    return json.loads(json.dumps(asdict(config), default=str))


def build_interactions(raw_root: Path, products: pl.DataFrame, source: str = "auto",
                       simulator: SimulatorSettings | None = None, now: datetime | None = None,
                       previous: pl.DataFrame | None = None, previous_settings: dict | None = None) -> InteractionsBuild:
    """``source``: 'auto' (real events if any file exists in raw/events/, else simulated),
    'real' (error when there are no event files) or 'simulated'. ``previous``/``previous_settings``:
    the last simulated log and its ``simulator_settings``, kept when the settings are the same."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    started = time.perf_counter()
    events_dir = Path(raw_root) / "events"
    has_files = bool(event_files(events_dir))
    if source == "real" and not has_files:
        raise FileNotFoundError(f"source='real' but {events_dir} has no *.csv or *.parquet files")
    if source == "real" or (source == "auto" and has_files):
        result = read_events(events_dir, products, now=now, raw_root=Path(raw_root))
        return InteractionsBuild(result.interactions, result.quarantine, "real", time.perf_counter() - started,
                                 events_read=result, files=result.files)
    config = simulator or SimulatorSettings()
    if previous is not None and previous_settings == simulator_settings(config):
        kept = previous.filter(pl.col("product_id").is_in(products["product_id"].implode()))
        return InteractionsBuild(kept, pl.DataFrame(schema=QUARANTINE_SCHEMA), "simulated",
                                 time.perf_counter() - started, simulator=config, kept_from_previous=True,
                                 dropped_removed_products=previous.height - kept.height)
    simulated = simulate(products, config)
    return InteractionsBuild(simulated.events, pl.DataFrame(schema=QUARANTINE_SCHEMA), "simulated",
                             time.perf_counter() - started, simulator=config)
