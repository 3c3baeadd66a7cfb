"""A night's change to a lake: a share of the catalog edited and a day of new events.

What the scaling benchmark's nightly rebuild starts from. The catalog edit is
``catalog_edits.change_styles`` (a third each of new, changed and removed styles). The day's events
are the lake's own rows resampled (so products, event kinds and quirks keep the lake's mix and
popularity) and given to the day's active shoppers: a share of the existing users, some of them new
users, as a real day brings them (new events come from the few users active that day, not from
every user a little). They land in their own file, ``raw/events/events-nightly-NNNNN.parquet``,
dated after the lake's last event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recsys.synthetic.catalog_edits import CatalogEdit, change_styles, fraction_counts

EVENT_COLUMNS = ("user_id", "product_id", "event", "ts", "value")


@dataclass(frozen=True)
class NewEvents:
    file: str
    rows: int
    active_users: int       # users with new events, new users included
    new_users: int


@dataclass(frozen=True)
class NightlyChange:
    catalog: CatalogEdit
    events: NewEvents

    def to_json(self) -> dict:
        return {"catalog": {name: len(ids) for name, ids in asdict(self.catalog).items()},
                "events": asdict(self.events)}


def _event_files(lake: Path) -> list[Path]:
    return sorted((lake / "raw" / "events").glob("*.parquet"))


def add_day_of_events(lake: Path, rows: int, active_users: int, new_user_share: float = 0.1,
                      seed: int = 1) -> NewEvents:
    """Write ``rows`` new events for ``active_users`` shoppers (``new_user_share`` of them new) to a
    new Parquet file in the lake's events folder."""
    files = _event_files(lake)
    if not files:
        raise FileNotFoundError(f"{lake / 'raw' / 'events'} has no Parquet event files to resample")
    rng = np.random.default_rng(seed)
    existing = (pl.scan_parquet(files).select("user_id").filter(pl.col("user_id") != "").unique()
                .collect().to_series().sort())
    new_users = min(round(active_users * new_user_share), active_users)
    returning = existing.gather(rng.choice(len(existing), size=min(active_users - new_users, len(existing)),
                                           replace=False))
    index = len([f for f in files if f.name.startswith("events-nightly-")])
    shoppers = pl.concat([returning, pl.Series([f"new{index}-{i}" for i in range(new_users)], dtype=pl.String)])
    # Products, kinds and values from the lake's own rows: enough files for the day, in random order.
    pool, pooled = [], 0
    for position in rng.permutation(len(files)):
        pool.append(pl.read_parquet(files[position], columns=["product_id", "event", "value"]))
        pooled += pool[-1].height
        if pooled >= rows:
            break
    pool = pl.concat(pool)
    sampled = pool.gather(rng.choice(pool.height, size=rows, replace=pool.height < rows))
    last = pl.scan_parquet(files).select(pl.col("ts").max()).collect().item()
    offsets = np.sort(rng.integers(1, 86_400 * 1_000_000, size=rows))
    day = sampled.with_columns(user_id=shoppers.gather(rng.integers(0, len(shoppers), size=rows)),
                               ts=pl.lit(last) + pl.Series(offsets).cast(pl.Duration("us"))).select(EVENT_COLUMNS)
    path = lake / "raw" / "events" / f"events-nightly-{index:05d}.parquet"
    day.write_parquet(path)
    return NewEvents(path.name, day.height, len(shoppers), new_users)


def nightly_change(lake: Path, products: int, catalog_share: float = 0.01, events_share: float = 0.01,
                   active_share: float = 0.02, new_user_share: float = 0.1, seed: int = 1) -> NightlyChange:
    """Edit ``catalog_share`` of the lake's ``products`` (in its styles file) and add ``events_share``
    of its events as a day of ``active_share`` of its users (shares of what the lake holds now)."""
    files = _event_files(lake)
    events = pl.scan_parquet(files).select(pl.len()).collect().item()
    users = pl.scan_parquet(files).select(pl.col("user_id").n_unique()).collect().item()
    edit = change_styles(lake, **fraction_counts(products, catalog_share))
    day = add_day_of_events(lake, max(1, round(events * events_share)), max(1, round(users * active_share)),
                            new_user_share, seed)
    return NightlyChange(edit, day)

