"""Synthetic interaction events for M users over the synthetic catalog, with taste and popularity.

Generative model (per user, all draws from ``(seed, user chunk)``):

- a persona from ``recsys.interactions.personas`` (by its share) and a shopper gender from the
  persona's gender mix; a favourite colour and a favourite article type of the user's own
  (the article type drawn with the persona's article weights);
- a number of events, log-normal around ``events_per_user`` (a long tail of heavy users);
- each event's product: with probability ``PERSONA_SHARE`` from the persona x gender
  distribution ``popularity * exp(persona affinity + gender affinity)``, else from popularity
  alone; popularity is Zipf(``ZIPF_EXPONENT``) over a random ranking of the catalog. Of
  ``CANDIDATES`` such draws the one the user likes best (favourite colour / article type bonus
  plus Gumbel noise) is taken, so users differ within a persona;
- the event kind from a funnel (view > click > add_to_cart > wishlist > purchase > rating),
  skewed towards purchases and good ratings when the product matches the user's favourites;
- timestamps strictly increasing per user (exponential gaps from a start in 2025), so no two
  events of one user collide.

``product_id`` is the unified id (``myntra_styles:1000042``) or the raw source id, half each.
Quirks, each with probability ``quirk_rate`` per event: an unknown product id, an empty
user_id, and an exact duplicate row; the events reader quarantines all three.

Memory: sampling tables over the catalog (``8 bytes x products`` per persona x gender actually
used, plus a few bytes of attributes per product) and one chunk of users' events at a time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import polars as pl

from recsys.interactions.personas import GENDER_AFFINITY, PERSONAS, SHOPPER_GENDERS
from recsys.synthetic.products import (
    ARTICLE_CATEGORY, CATEGORIES, COLOUR_NAMES, GENDERS, ID_OFFSETS, SOURCES, USAGES, ProductChunk,
)
from recsys.synthetic.vocabulary import ARTICLE_TYPES

EVENT_KINDS: tuple[str, ...] = ("view", "click", "add_to_cart", "wishlist", "purchase", "rating")
KIND_P_OTHER = np.array([0.52, 0.22, 0.1, 0.07, 0.05, 0.04])
KIND_P_FAVOURITE = np.array([0.4, 0.22, 0.12, 0.1, 0.09, 0.07])
PERSONA_SHARE = 0.75
CANDIDATES = 3
FAVOURITE_BONUS = 1.2
ZIPF_EXPONENT = 0.9
EVENT_SPREAD = 0.8                      # sigma of log(events per user)
MEAN_GAP_SECONDS = 4 * 3600
START = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
START_WINDOW_SECONDS = 150 * 86_400
UNKNOWN_PRODUCT = "myntra_styles:99999999"
EVENT_REASONS: dict[str, str] = {"unknown_product": "unknown product", "missing_user": "missing user_id",
                                 "duplicate": "duplicate event"}

_PERSONAS = list(PERSONAS.values())
_PERSONA_P = np.array([p.share for p in _PERSONAS]) / sum(p.share for p in _PERSONAS)
_ARTICLE_NAMES = [a.name for a in ARTICLE_TYPES]
_ARTICLE_SHARE = np.array([a.share for a in ARTICLE_TYPES])


@dataclass
class CatalogAttributes:
    """The few latent attributes per product that events need, filled chunk by chunk."""

    source: np.ndarray
    article: np.ndarray
    colour: np.ndarray
    gender: np.ndarray
    usage: np.ndarray

    @classmethod
    def empty(cls, products: int) -> CatalogAttributes:
        return cls(*(np.zeros(products, dtype=dt) for dt in (np.int8, np.int16, np.int8, np.int8, np.int8)))

    def fill(self, chunk: ProductChunk) -> None:
        rows = slice(chunk.start, chunk.start + len(chunk))
        for name in ("source", "article", "colour", "gender", "usage"):
            getattr(self, name)[rows] = getattr(chunk, name)

    def __len__(self) -> int:
        return len(self.source)


@dataclass
class EventTally:
    rows: int = 0                                            # records written
    users: int = 0
    kinds: Counter = field(default_factory=Counter)          # event kind -> rows (valid ones)
    quarantine: Counter = field(default_factory=Counter)     # reason -> rows the reader must quarantine

    def add(self, other: EventTally) -> None:
        self.rows += other.rows
        self.users += other.users
        self.kinds.update(other.kinds)
        self.quarantine.update(other.quarantine)


def _cdf(log_weights: np.ndarray) -> np.ndarray:
    weights = np.exp(log_weights - log_weights.max())
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


class EventSampler:
    """Draws users and their events; one instance per lake (it holds the sampling tables)."""

    def __init__(self, catalog: CatalogAttributes, seed: int):
        self.catalog = catalog
        self.seed = seed
        rank = np.random.default_rng([seed, 5]).permutation(len(catalog))
        self.log_popularity = -ZIPF_EXPONENT * np.log1p(rank).astype(np.float64)
        self.popularity_cdf = _cdf(self.log_popularity)
        self._persona_cdfs: dict[tuple[int, int], np.ndarray] = {}
        gender_names = list(GENDERS)
        self._gender_affinity = {
            g: np.array([GENDER_AFFINITY[shopper].get(name, GENDER_AFFINITY[shopper][None]) for name in gender_names])
            for g, shopper in enumerate(SHOPPER_GENDERS)
        }

    def persona_cdf(self, persona: int, gender: int) -> np.ndarray:
        key = (persona, gender)
        if key not in self._persona_cdfs:
            p, c = _PERSONAS[persona], self.catalog
            affinity = (p.weights("article_type", _ARTICLE_NAMES)[c.article]
                        + p.weights("colour", list(COLOUR_NAMES))[c.colour]
                        + p.weights("usage", list(USAGES))[c.usage]
                        + p.weights("category", list(CATEGORIES))[ARTICLE_CATEGORY[c.article]]
                        + self._gender_affinity[gender][c.gender])
            self._persona_cdfs[key] = _cdf(self.log_popularity + affinity)
        return self._persona_cdfs[key]

    def chunk(self, chunk_index: int, first_user: int, users: int, events_per_user: float,
              quirk_rate: float) -> tuple[pl.DataFrame, EventTally]:
        """Events of users ``first_user .. first_user + users - 1`` as raw rows (ts as UTC datetimes)."""
        rng = np.random.default_rng([self.seed, 4, chunk_index])
        persona = rng.choice(len(_PERSONAS), size=users, p=_PERSONA_P)
        women_share = np.array([p.genders.get("Women", 0.0) / sum(p.genders.values()) for p in _PERSONAS])
        gender = (rng.random(users) < women_share[persona]).astype(np.int64)   # index into SHOPPER_GENDERS
        fav_colour = rng.integers(0, len(COLOUR_NAMES), size=users)
        fav_article = np.empty(users, dtype=np.int64)
        for p in np.unique(persona):
            logits = _PERSONAS[p].weights("article_type", _ARTICLE_NAMES) + np.log(_ARTICLE_SHARE)
            members = np.flatnonzero(persona == p)
            fav_article[members] = rng.choice(len(ARTICLE_TYPES), size=len(members), p=_softmax(logits))
        mu = np.log(events_per_user) - EVENT_SPREAD ** 2 / 2
        counts = np.clip(np.rint(rng.lognormal(mu, EVENT_SPREAD, size=users)), 1, 50 * events_per_user).astype(np.int64)
        user = np.repeat(np.arange(users), counts)
        n = len(user)

        candidates = np.empty((n, CANDIDATES), dtype=np.int64)
        from_persona = rng.random(n) < PERSONA_SHARE
        draws = rng.random((n, CANDIDATES))
        groups = persona[user] * len(SHOPPER_GENDERS) + gender[user]
        for group in np.unique(groups[from_persona]):
            rows = np.flatnonzero(from_persona & (groups == group))
            cdf = self.persona_cdf(int(group) // len(SHOPPER_GENDERS), int(group) % len(SHOPPER_GENDERS))
            candidates[rows] = np.searchsorted(cdf, draws[rows], side="right")
        rows = np.flatnonzero(~from_persona)
        candidates[rows] = np.searchsorted(self.popularity_cdf, draws[rows], side="right")
        np.minimum(candidates, len(self.catalog) - 1, out=candidates)
        bonus = FAVOURITE_BONUS * ((self.catalog.colour[candidates] == fav_colour[user, None]).astype(np.float64)
                                   + (self.catalog.article[candidates] == fav_article[user, None]))
        best = np.argmax(bonus + rng.gumbel(size=bonus.shape), axis=1)
        product = candidates[np.arange(n), best]
        matched = bonus[np.arange(n), best]

        kind = np.where(matched > 0,
                        _categorical(rng, KIND_P_FAVOURITE, n), _categorical(rng, KIND_P_OTHER, n))
        rating = np.clip(np.rint(2.6 + matched + rng.normal(0, 0.8, n)), 1, 5)
        value = np.where(kind == EVENT_KINDS.index("rating"), rating, np.nan)
        starts = START + rng.integers(0, START_WINDOW_SECONDS, size=users)
        gaps = 1 + rng.exponential(MEAN_GAP_SECONDS, size=n).astype(np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        elapsed = np.cumsum(gaps)
        elapsed -= np.repeat(elapsed[first] - gaps[first], counts)   # restart the running sum per user
        ts = np.repeat(starts, counts) + elapsed
        unified = rng.random(n) < 0.5

        quirk = rng.random(n)
        unknown = quirk < quirk_rate
        missing_user = (quirk >= quirk_rate) & (quirk < 2 * quirk_rate)
        duplicate = (quirk >= 2 * quirk_rate) & (quirk < 3 * quirk_rate)

        source = self.catalog.source[product]
        raw_id = (np.asarray(ID_OFFSETS)[source] + product).astype(np.int64)
        frame = pl.DataFrame({
            "user": user + first_user, "raw_id": raw_id, "source": source.astype(np.int64), "unified": unified,
            "unknown": unknown, "missing_user": missing_user, "kind": kind, "ts": ts, "value": value,
        }).select(
            user_id=pl.when(pl.col("missing_user")).then(pl.lit("")).otherwise(pl.format("u{}", pl.col("user"))),
            product_id=pl.when(pl.col("unknown")).then(pl.lit(UNKNOWN_PRODUCT))
            .when(pl.col("unified"))
            .then(pl.format("{}:{}", pl.col("source").replace_strict(dict(enumerate(SOURCES))), pl.col("raw_id")))
            .otherwise(pl.col("raw_id").cast(pl.String)),
            event=pl.col("kind").replace_strict(dict(enumerate(EVENT_KINDS))),
            ts=pl.from_epoch("ts", time_unit="s").dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
            value=pl.col("value").fill_nan(None),
        )
        # A duplicate is the same record written twice in a row.
        frame = frame.select(pl.all().gather(np.repeat(np.arange(n), np.where(duplicate, 2, 1))))
        valid = ~(unknown | missing_user)
        tally = EventTally(rows=frame.height, users=users,
                           kinds=Counter({EVENT_KINDS[k]: int(c) for k, c in zip(*np.unique(kind[valid], return_counts=True))}),
                           quarantine=Counter({EVENT_REASONS["unknown_product"]: int(unknown.sum()),
                                               EVENT_REASONS["missing_user"]: int(missing_user.sum()),
                                               EVENT_REASONS["duplicate"]: int(duplicate.sum())}))
        return frame, tally


def _softmax(logits: np.ndarray) -> np.ndarray:
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def _categorical(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(p) / p.sum(), rng.random(n), side="right")
