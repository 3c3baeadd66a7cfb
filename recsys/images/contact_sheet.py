"""A grid of cached thumbnails with their product ids: what the cache holds, at a glance."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

CELL = 128
LABEL_HEIGHT = 14


def contact_sheet(images: list[tuple[str, Path]], columns: int = 6, cell: int = CELL) -> Image.Image | None:
    """``images``: (label, file) pairs. None when there is nothing to show; unreadable files are skipped."""
    thumbnails = []
    for label, path in images:
        try:
            with Image.open(path) as image:
                image.thumbnail((cell, cell))
                thumbnails.append((label, image.convert("RGB")))
        except OSError:
            continue
    if not thumbnails:
        return None
    columns = min(columns, len(thumbnails))
    rows = -(-len(thumbnails) // columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, thumb) in enumerate(thumbnails):
        x, y = (index % columns) * cell, (index // columns) * (cell + LABEL_HEIGHT)
        sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        draw.text((x + 2, y + cell + 1), label[:22], fill="black")
    return sheet
