"""One published build, loaded whole, and the holder that swaps in the next one.

The pipeline publishes a build by swapping ``warehouse.duckdb`` in atomically, last (after the gold
tables, the index and the models). A :class:`Snapshot` reads every table it serves from one open
warehouse file into memory, with the index and models as they are at that moment, so its answers
all come from one build. :class:`SnapshotHolder` notices a new warehouse file (another inode), loads
the next snapshot beside the current one and swaps the reference; a request takes the reference once
and keeps that snapshot to its end, so no request fails during a swap and none mixes two builds.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from recsys import warehouse
from recsys.index import ItemIndex
from recsys.index.queries import allowed_labels, query_encoder
from serving.catalog import FILTER_COLUMNS, Filters, ProductCard, card_from_row
from serving.ranked_lists import RankedLists
from serving.shopper_batches import ShopperBatches

log = logging.getLogger(__name__)

WAREHOUSE_FILE = "warehouse.duckdb"
INDEX_DIR = Path("models") / "faiss_index"
TWO_TOWER_DIR = Path("models") / "two_tower"
_PRODUCT_COLUMNS = ["product_id", "name", "brand", "gender", "category", "article_type", "colour", "price",
                    "currency", "description", "image_path"]


class NoBuild(RuntimeError):
    """No build has been published (or the published one cannot be read)."""


@dataclass(frozen=True)
class FileStamp:
    """What identifies one warehouse file: a swap gives a new inode."""

    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(st.st_ino, st.st_mtime_ns, st.st_size)


class SerializedEncoder:
    """The query encoder, one call at a time. The app answers searches on a thread pool, and neither
    the torch towers nor Hugging Face's fast tokenizers promise safe concurrent calls (a tokenizer
    whose settings change mid-call fails with "Already borrowed"). Taking turns caps searches at
    one core; table lookups and new-shopper lists do not wait for it."""

    def __init__(self, encoder):
        self.encoder, self.name, self.version = encoder, encoder.name, encoder.version
        self._lock = threading.Lock()

    def encode_texts(self, texts):
        with self._lock:
            return self.encoder.encode_texts(texts)

    def encode_images(self, paths):
        with self._lock:
            return self.encoder.encode_images(paths)


class Snapshot:
    """Every table, the index and the models of one build. Read-only once loaded."""

    def __init__(self, stamp: FileStamp, build: dict, products: pl.DataFrame, similar: RankedLists,
                 users: RankedLists, styles: RankedLists, models: Models):
        self.stamp, self.build = stamp, build
        self.build_id: str = build["build_id"]
        self.cards: dict[str, ProductCard] = {row["product_id"]: card_from_row(row)
                                              for row in products.iter_rows(named=True)}
        self.products = products
        self.similar, self.users, self.styles = similar, users, styles
        self.index, self.encoder, self.two_tower = models.index, models.encoder, models.two_tower
        self.shoppers = ShopperBatches(models.two_tower, models.shopper_search) if models.two_tower else None
        # how new shoppers' lists are searched: exact, or clustered with its measured recall
        self.shopper_search_quality = asdict(models.shopper_search.quality) if models.shopper_search else None
        self.unavailable = models.unavailable   # feature -> why it cannot answer ("search", "new_shopper", ...)
        self.vocabulary = {column: {str(v).casefold(): str(v) for v in products[column].drop_nulls().unique()}
                           for column in FILTER_COLUMNS}
        # The index may hold products this build's tables do not (a newer index saved while this
        # build was published): answers from it are kept to this build's products.
        indexed = set(self.index.ids.product_ids.tolist()) if self.index is not None else set()
        self._index_is_catalog = indexed == set(self.cards)
        self.allowed = lru_cache(maxsize=256)(self._allowed)

    @property
    def style_names(self) -> list[str]:
        return sorted({style for style, _ in self.styles.keys})

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        """FAISS labels of the products ``filters`` keep (None: every indexed product will do)."""
        if filters.is_empty and self._index_is_catalog:
            return None
        kept = self.products.filter(filters.expression())["product_id"].to_list()
        return allowed_labels(kept)


def _read(con, query: str) -> pl.DataFrame:
    frame = con.sql(query).pl()
    # ids are ENUMs in the warehouse (fast lookups there); here they are plain strings
    return frame.with_columns([pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                               if isinstance(t, (pl.Enum, pl.Categorical))])


@dataclass
class Models:
    """What answers queries no table holds; a missing one only disables the queries that need it."""

    index: ItemIndex | None = None
    encoder: object = None
    two_tower: object = None
    shopper_search: object = None       # the two-tower's clustered search; None scores every item
    unavailable: dict[str, str] = field(default_factory=dict)   # feature -> why it cannot answer


def _load_models(lake: Path, previous: Snapshot | None) -> Models:
    """The index, the query encoder and the two-tower model (table lookups never need a model)."""
    models = Models()
    try:
        models.index = ItemIndex.load(lake / INDEX_DIR)
    except Exception as error:  # noqa: BLE001 - a broken index disables search, not the app
        models.unavailable["index"] = f"the index cannot be loaded: {error}"
    if models.index is not None:
        spec = models.index.manifest.vectors
        reuse = previous is not None and previous.encoder is not None and (
            previous.encoder.name, previous.encoder.version) == (spec.model, spec.version)
        try:
            models.encoder = previous.encoder if reuse else SerializedEncoder(query_encoder(lake, spec))
        except Exception as error:  # noqa: BLE001
            models.unavailable["encoder"] = f"the query encoder cannot be loaded: {error}"
    try:
        from recsys.models.two_tower import TwoTowerRecommender

        models.two_tower = TwoTowerRecommender.from_pretrained(lake / TWO_TOWER_DIR)
    except Exception as error:  # noqa: BLE001
        models.unavailable["two_tower"] = f"the two-tower model cannot be loaded: {error}"
    if models.two_tower is not None:
        try:
            models.shopper_search = models.two_tower.shopper_search()
        except Exception:  # noqa: BLE001 - without it every item is scored: slower, never wrong
            log.exception("no clustered search for new shoppers; scoring every item")
    return models


def load_snapshot(lake: Path, previous: Snapshot | None = None) -> Snapshot:
    """Read the published build whole: its tables from one warehouse file, then its models."""
    path = Path(lake) / WAREHOUSE_FILE
    stamp = FileStamp.of(path)      # taken before opening: a swap in between only causes one more reload
    if stamp is None:
        raise NoBuild(f"no build published yet: {path} does not exist (run the pipeline)")
    try:
        con = warehouse.connect_readonly(path)
    except Exception as error:
        raise NoBuild(f"the warehouse {path} cannot be opened: {error}") from error
    try:
        builds = _read(con, "SELECT build_id, finished_at FROM builds ORDER BY finished_at DESC LIMIT 1")
        products = _read(con, f"SELECT {', '.join(_PRODUCT_COLUMNS)} FROM products ORDER BY product_id")
        similar = _read(con, "SELECT product_id AS key, similar_product_id AS product_id, score, reason, model "
                             "FROM similar_items ORDER BY key, rank")
        users = _read(con, "SELECT user_id AS key, product_id, score, reason, model "
                           "FROM user_recommendations ORDER BY key, rank")
        styles = _read(con, "SELECT style, gender, product_id, score, reason, 'style' AS model "
                            "FROM style_recommendations ORDER BY style, gender NULLS FIRST, rank")
    except Exception as error:
        raise NoBuild(f"the warehouse {path} lacks a table the app serves: {error}") from error
    finally:
        con.close()
    if builds.is_empty():
        raise NoBuild(f"the warehouse {path} records no build")
    build = {"build_id": builds["build_id"][0], "built_at": builds["finished_at"][0].isoformat()}
    styles = styles.with_columns(key=pl.struct("style", "gender")).drop("style", "gender")
    return Snapshot(stamp, build, products, RankedLists(similar), RankedLists(users),
                    RankedLists(styles, key=lambda k: (k["style"], k["gender"])), _load_models(Path(lake), previous))


class SnapshotHolder:
    """The snapshot being served, replaced whole when a new build is published."""

    def __init__(self, lake: Path, check_every_s: float = 2.0,
                 loader: Callable[[Path, Snapshot | None], Snapshot] = load_snapshot):
        self.lake, self.check_every_s, self._loader = Path(lake), check_every_s, loader
        self.current: Snapshot | None = None
        self.problem: str | None = "not loaded yet"
        self.on_swap: Callable[[Snapshot], None] = lambda snapshot: None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self) -> Snapshot:
        """The snapshot a request uses from its start to its end."""
        snapshot = self.current
        if snapshot is None:
            raise NoBuild(self.problem or "no build loaded")
        return snapshot

    def refresh(self) -> bool:
        """Load and swap in the published build if it is not the one served; True when swapped."""
        stamp = FileStamp.of(self.lake / WAREHOUSE_FILE)
        if self.current is not None and stamp == self.current.stamp:
            return False
        try:
            snapshot = self._loader(self.lake, self.current)
        except NoBuild as missing:
            self.problem = str(missing)
            if self.current is None:
                return False
            log.warning("keeping build %s: %s", self.current.build_id, missing)
            return False
        self.current, self.problem = snapshot, None     # one reference assignment: the swap
        self.on_swap(snapshot)
        log.info("serving build %s (%d products)", snapshot.build_id, len(snapshot.cards))
        return True

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="snapshot-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad build
                log.exception("loading the new build failed; still serving the previous one")
