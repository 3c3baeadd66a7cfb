"""A persona simulator: deterministic synthetic shoppers for catalogs without real events.

Generative model (everything below is drawn from one ``numpy.random.Generator(seed)``, so the
same catalog, config and seed give the same events, row for row):

1. **Item popularity.** Each product gets a hidden popularity rank ``r`` (a random permutation)
   and a log-popularity ``-popularity_exponent * log(r)``: a Zipf-like long tail, independent of
   the product's content.
2. **Users.** Each user draws a primary persona ``P`` with the personas' ``share``s, a shopper
   gender from ``P.genders``, a secondary persona ``Q`` (uniform over the others) and a mixing
   weight ``m ~ U(0, secondary_mix)``. The user's weight for value ``v`` of attribute column ``c``
   is ``w[c, v] = P[c, v] + m * Q[c, v] + N(0, user_noise^2)`` (individual taste).
3. **Taste.** For user ``u`` and product ``i``: ``taste(u, i) = sum_c w[c, value_c(i)]``.
4. **Choice.** A user makes ``n_u ~ LogNormal(log(median_items_per_user), activity_sigma)``
   product choices (clipped to ``[min_items_per_user, max_items_per_user]``), each drawn *with
   replacement* from ``softmax_i(taste_strength * taste(u, i) + log_pop(i) + gender_fit(u, i))``;
   a product drawn twice is a repeat visit.
5. **Time.** The simulated period is the ``weeks`` ending at ``end``. A user is active in a random
   window ``[start_u, start_u + length_u]`` of it; each choice happens at a uniform time in that
   window, independent of the choice itself (so a time split does not see taste rank order).
6. **Events.** Every choice is a ``click`` (value 1). With ``z`` the choice's taste standardized
   by the mean and deviation of taste under the user's own choice distribution (how much more than
   usual the user likes it), it becomes ``add_to_cart`` with probability
   ``sigmoid(cart_bias + funnel_slope * z)`` minutes later, then ``purchase`` with probability
   ``sigmoid(purchase_bias + funnel_slope * z)``. With probability ``rating_rate`` the user rates
   it days later: ``clip(round(rating_center + rating_slope * z + N(0, rating_noise^2)), 1, 5)`` stars.
   Follow-up events that would fall after ``end`` are not observed, as in a real export.

The hidden parameters (popularity ranks, personas, user weights) never leave this module except
in :class:`SimulationResult.users`, which is for tests and diagnostics and is not written to the
lake: models and the evaluation see only the events and the catalog.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.interactions.personas import PERSONAS, PREFERENCE_COLUMNS, SHOPPER_GENDERS, Persona, gender_affinity
from recsys.interactions.schema import INTERACTION_SCHEMA, RATING_SCALE

log = logging.getLogger(__name__)

USERS_PER_CHUNK = 256   # users whose catalog-wide choice distributions are held in memory at once
SAMPLING_BLOCK = 256    # items per block of the two-step inverse-CDF sampler
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SimulatorSettings:
    n_users: int = 5_000
    seed: int = 7
    weeks: int = 12
    end: datetime = datetime(2024, 6, 30, tzinfo=timezone.utc)   # fixed, so runs are reproducible
    median_items_per_user: float = 12.0
    activity_sigma: float = 0.9
    min_items_per_user: int = 2
    max_items_per_user: int = 300
    taste_strength: float = 1.6
    user_noise: float = 0.5
    secondary_mix: float = 0.5
    popularity_exponent: float = 0.8
    cart_bias: float = -2.0
    purchase_bias: float = -0.5
    funnel_slope: float = 0.8
    rating_rate: float = 0.3
    rating_center: float = 3.6
    rating_slope: float = 0.9
    rating_noise: float = 0.7

    @classmethod
    def sample(cls, **overrides) -> SimulatorSettings:
        """The default: a few thousand users for the embedded ~58k-product sample (seconds)."""
        return replace(cls(), **overrides)

    @classmethod
    def benchmark(cls, **overrides) -> SimulatorSettings:
        """A larger population for benchmarks: 50k users, about a million events."""
        return replace(cls(n_users=50_000), **overrides)


@dataclass(frozen=True)
class SimulationResult:
    events: pl.DataFrame   # INTERACTION_SCHEMA, origin 'simulated', sorted by user_id, ts
    users: pl.DataFrame    # hidden truth: user_id, persona, secondary_persona, gender, choices
    seconds: float


def user_ids(n: int) -> list[str]:
    width = max(6, len(str(n - 1)))
    return [f"sim_u{i:0{width}d}" for i in range(n)]


def _attribute_one_hot(products: pl.DataFrame) -> tuple[sp.csr_matrix, list[tuple[str, list[str]]]]:
    """Products x (column, value) indicator matrix, and the vocabulary of each column."""
    blocks, vocabularies = [], []
    for column in PREFERENCE_COLUMNS:
        values = products[column].fill_null("")
        vocabulary = sorted(values.unique().to_list())
        codes = values.replace_strict({v: k for k, v in enumerate(vocabulary)}, return_dtype=pl.Int64).to_numpy()
        blocks.append(sp.csr_matrix((np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
                                    shape=(len(codes), len(vocabulary))))
        vocabularies.append((column, vocabulary))
    return sp.hstack(blocks, format="csr"), vocabularies


def _persona_weights(persona: Persona, vocabularies: list[tuple[str, list[str]]]) -> np.ndarray:
    return np.concatenate([persona.weights(column, vocabulary) for column, vocabulary in vocabularies])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(products: pl.DataFrame, config: SimulatorSettings | None = None) -> SimulationResult:
    """Simulated events over ``products`` (a silver/products frame) following the module's model."""
    config = config or SimulatorSettings()
    started = time.perf_counter()
    if products.is_empty():
        raise ValueError("cannot simulate interactions over an empty catalog")
    rng = np.random.default_rng(config.seed)
    n_items, n_users = products.height, config.n_users
    product_ids = products["product_id"].to_numpy()

    # 1. hidden popularity
    ranks = rng.permutation(n_items) + 1
    log_popularity = (-config.popularity_exponent * np.log(ranks)).astype(np.float32)

    # 2. users
    one_hot, vocabularies = _attribute_one_hot(products)
    personas = list(PERSONAS.values())
    persona_matrix = np.stack([_persona_weights(p, vocabularies) for p in personas])      # personas x values
    shares = np.array([p.share for p in personas])
    primary = rng.choice(len(personas), size=n_users, p=shares / shares.sum())
    secondary = (primary + rng.integers(1, len(personas), size=n_users)) % len(personas)
    mix = rng.uniform(0.0, config.secondary_mix, size=n_users).astype(np.float32)
    gender_draw = rng.random(n_users)
    genders = np.array([_draw_gender(personas[p], g) for p, g in zip(primary, gender_draw)])
    noise = rng.normal(0.0, config.user_noise, size=(n_users, one_hot.shape[1])).astype(np.float32)
    user_weights = persona_matrix[primary] + mix[:, None] * persona_matrix[secondary] + noise
    # the largest taste a user can have for any product: one best value per attribute column
    column_ends = np.cumsum([len(v) for _, v in vocabularies])
    blocks = np.split(user_weights, column_ends[:-1], axis=1)
    taste_bound = np.stack([block.max(axis=1) for block in blocks]).sum(axis=0)
    gender_rows = {g: gender_affinity(g, products["gender"]) for g in SHOPPER_GENDERS}
    choices = np.clip(np.rint(rng.lognormal(np.log(config.median_items_per_user), config.activity_sigma, n_users)),
                      config.min_items_per_user, config.max_items_per_user).astype(np.int64)

    # 3-4. choices, a chunk of users at a time (each needs a distribution over the whole catalog).
    # Arrays are items x users so no transposed copy is made; sampling is inverse-CDF in two steps
    # (a block of SAMPLING_BLOCK items, then the item inside it), which avoids a full cumulative sum.
    n_blocks = -(-n_items // SAMPLING_BLOCK)
    gender_matrix = np.stack([gender_rows[g] for g in SHOPPER_GENDERS], axis=1)       # items x genders
    gender_index = np.array([SHOPPER_GENDERS.index(g) for g in genders])
    probs = np.zeros((n_blocks * SAMPLING_BLOCK, USERS_PER_CHUNK), dtype=np.float32)
    chosen_users, chosen_items, chosen_z = [], [], []
    for lo in range(0, n_users, USERS_PER_CHUNK):
        hi = min(lo + USERS_PER_CHUNK, n_users)
        taste = np.asarray(one_hot @ user_weights[lo:hi].T, dtype=np.float32)            # items x chunk
        p = probs[:n_items, :hi - lo]
        np.multiply(taste, config.taste_strength, out=p)
        p += log_popularity[:, None]
        p += gender_matrix[:, gender_index[lo:hi]]
        p -= config.taste_strength * taste_bound[lo:hi]     # logits <= 0, so exp cannot overflow
        np.exp(p, out=p)
        p /= p.sum(axis=0)
        # z: how much a choice is liked relative to what this user typically chooses
        mean = np.einsum("iu,iu->u", p, taste)
        std = np.sqrt(np.maximum(np.einsum("iu,iu,iu->u", p, taste, taste) - mean ** 2, 0.0)) + 1e-6
        block_mass = probs[:, :hi - lo].reshape(n_blocks, SAMPLING_BLOCK, hi - lo).sum(axis=1)
        for col, user in enumerate(range(lo, hi)):
            picks = _draw(probs[:, col], block_mass[:, col], rng.random(choices[user]))
            picks = np.minimum(picks, n_items - 1)
            chosen_users.append(np.full(len(picks), user))
            chosen_items.append(picks)
            chosen_z.append((taste[picks, col] - mean[col]) / std[col])
        if hi == n_users or (hi // USERS_PER_CHUNK) % 8 == 0:
            done_s = time.perf_counter() - started
            log.info("simulated %d/%d users (%.0f users/s)", hi, n_users, hi / max(done_s, 1e-9))
    users = np.concatenate(chosen_users)
    items = np.concatenate(chosen_items)
    z = np.concatenate(chosen_z).astype(np.float64)

    # 5. time: per-user active window inside the period, uniform choice times within it
    period = config.weeks * 7 * SECONDS_PER_DAY
    start = rng.uniform(0, period - SECONDS_PER_DAY, n_users)
    length = rng.uniform(SECONDS_PER_DAY, np.maximum(period - start, SECONDS_PER_DAY + 1))
    click_t = start[users] + rng.random(len(users)) * length[users]

    # 6. the funnel and the ratings
    carted = rng.random(len(z)) < _sigmoid(config.cart_bias + config.funnel_slope * z)
    bought = carted & (rng.random(len(z)) < _sigmoid(config.purchase_bias + config.funnel_slope * z))
    cart_t = click_t + rng.exponential(10 * 60, len(z))
    buy_t = cart_t + rng.exponential(30 * 60, len(z))
    rated = rng.random(len(z)) < config.rating_rate
    stars = np.rint(config.rating_center + config.rating_slope * z + rng.normal(0, config.rating_noise, len(z)))
    stars = np.clip(stars, *RATING_SCALE)
    last_t = np.where(bought, buy_t, np.where(carted, cart_t, click_t))
    rate_t = last_t + rng.exponential(2 * SECONDS_PER_DAY, len(z))

    parts = [("click", np.ones(len(z), dtype=bool), click_t, np.ones(len(z))),
             ("add_to_cart", carted, cart_t, np.ones(len(z))),
             ("purchase", bought, buy_t, np.ones(len(z))),
             ("rating", rated, rate_t, stars)]
    begin = config.end - timedelta(seconds=period)
    begin_us = int(begin.timestamp() * 1_000_000)
    ids = np.array(user_ids(n_users))
    frames = []
    for event, happened, seconds, value in parts:
        mask = happened & (seconds < period)   # follow-ups after the period's end are not observed yet
        offset_us = seconds[mask] * 1_000_000
        frames.append(pl.DataFrame({
            "user_id": ids[users[mask]],
            "product_id": product_ids[items[mask]],
            "event": np.full(int(mask.sum()), event),
            "value": value[mask].astype(np.float64),
            "ts": (begin_us + offset_us.astype(np.int64)),
        }))
    events = (pl.concat(frames)
              .with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")), origin=pl.lit("simulated"))
              .select(list(INTERACTION_SCHEMA)).cast(INTERACTION_SCHEMA)
              .sort("user_id", "ts", "product_id", "event"))
    truth = pl.DataFrame({
        "user_id": ids,
        "persona": [personas[p].name for p in primary],
        "secondary_persona": [personas[p].name for p in secondary],
        "gender": genders,
        "choices": choices,
    })
    seconds_taken = time.perf_counter() - started
    log.info("simulated %d events for %d users over %d products in %.1fs", events.height, n_users, n_items,
             seconds_taken)
    return SimulationResult(events=events, users=truth, seconds=seconds_taken)


def _draw(probs: np.ndarray, block_mass: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Item indices for ``uniforms`` by inverse CDF: the block first, then the item in it."""
    cdf = np.cumsum(block_mass, dtype=np.float64)
    targets = uniforms * cdf[-1]
    blocks = np.minimum(np.searchsorted(cdf, targets, side="right"), len(block_mass) - 1)
    residual = targets - (cdf[blocks] - block_mass[blocks])
    inside = probs[blocks[:, None] * SAMPLING_BLOCK + np.arange(SAMPLING_BLOCK)]
    offsets = np.minimum((np.cumsum(inside, axis=1) <= residual[:, None]).sum(axis=1), SAMPLING_BLOCK - 1)
    return blocks * SAMPLING_BLOCK + offsets


def _draw_gender(persona: Persona, u: float) -> str:
    cumulative = 0.0
    total = sum(persona.genders.values())
    for gender, weight in persona.genders.items():
        cumulative += weight / total
        if u < cumulative:
            return gender
    return next(reversed(persona.genders))
