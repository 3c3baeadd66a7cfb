"""A catalog change on a lake's raw Myntra styles (new, changed and removed products), for the
incremental-build tests and benchmark: what a nightly feed update looks like."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

NEW_ID_BASE = 990_000


@dataclass(frozen=True)
class CatalogEdit:
    new: list[str]        # product_ids
    changed: list[str]
    removed: list[str]


def _product_id(style_id: str) -> str:
    return f"myntra_styles:{style_id}"


def fraction_counts(rows: int, fraction: float) -> dict[str, int]:
    """new/changed/removed counts that together touch ``fraction`` of ``rows`` (a third each, at least 1)."""
    third = max(1, round(rows * fraction / 3))
    return {"new": third, "changed": third, "removed": third}


def styles_file(lake: Path) -> Path:
    """The lake's Myntra styles CSV: the real single file, else the first shard (synthetic lakes)."""
    folder = lake / "raw" / "myntra" / "styles"
    return folder / "styles.csv" if (folder / "styles.csv").exists() else sorted(folder.glob("styles-*.csv"))[0]


def style_rows(lake: Path) -> int:
    return len(styles_file(lake).read_text(encoding="utf-8").splitlines()) - 1


def change_styles(lake: Path, new: int = 2, changed: int = 2, removed: int = 2) -> CatalogEdit:
    """Edit the lake's styles CSV (``styles_file``) in place: the first ``removed`` styles go, the next
    ``changed`` get a new display name (so a new content_hash), and ``new`` styles are added as
    copies of the last ones (another name, the same image file under the new id). Only well-formed
    style rows (a numeric id, every field) are picked; junk, blank and continuation lines stay as they are."""
    path = styles_file(lake)
    images = lake / "raw" / "myntra" / "images"
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    styles = [i for i, line in enumerate(lines)
              if line.split(",", 1)[0].isdigit() and line.count(",") >= header.count(",")]
    gone, edited = styles[:removed], styles[removed:removed + changed]
    copied = styles[removed + changed:][-new:] if new else []
    renamed = {i: lines[i].rsplit(",", 1)[0] + ",Hand-woven linen festival kurta in saffron" for i in edited}
    # New ids above every id in the file, so that a second night's new styles do not reuse the first's.
    first_new = max([NEW_ID_BASE - 1, *(int(lines[i].split(",", 1)[0]) for i in styles)]) + 1
    added = []
    for n, i in enumerate(copied):
        style_id, rest = lines[i].split(",", 1)
        new_id = str(first_new + n)
        added.append(f"{new_id},{rest.rsplit(',', 1)[0]},Limited edition {n} of a best seller")
        if (images / f"{style_id}.jpg").exists():
            shutil.copy(images / f"{style_id}.jpg", images / f"{new_id}.jpg")
    dropped = set(gone)
    kept = [renamed.get(i, line) for i, line in enumerate(lines) if i not in dropped]
    path.write_text("\n".join([header, *kept, *added]) + "\n", encoding="utf-8")
    return CatalogEdit(new=[_product_id(line.split(",", 1)[0]) for line in added],
                       changed=[_product_id(lines[i].split(",", 1)[0]) for i in edited],
                       removed=[_product_id(lines[i].split(",", 1)[0]) for i in gone])
