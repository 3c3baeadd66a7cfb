"""Raw CSV files as records with their line numbers, tolerant of what real exports contain.

Handles a UTF-8 BOM, CRLF/CR line endings, quoted multi-line fields, NUL bytes, files that are
not UTF-8 (cp1252 when the whole file decodes as that, else replacement characters, which the
caller quarantines), blank lines (skipped and counted), and a stray quote that would swallow the
rest of the file (the record is cut at a line limit and reported).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_RAW_CHARS = 1_000          # raw text kept in quarantine rows
MAX_RECORD_LINES = 200         # a quoted field spanning more physical lines than this is broken
MAX_FIELD_CHARS = 100_000      # larger fields are a broken record, not a product

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class RawRecord:
    """One CSV record: header-keyed fields plus any extra unnamed fields, and where it came from."""

    file: str
    line: int                   # 1-based physical line where the record starts
    fields: dict[str, str]
    extra: list[str]            # fields beyond the header (unquoted commas in the last column)
    missing: int                # how many header columns the record lacked
    raw: str                    # the record's text, truncated
    problem: str | None = None  # set when the record cannot be trusted at all


@dataclass
class FileReadStats:
    file: str
    encoding: str = "utf-8"
    records: int = 0
    blank_lines: int = 0


@dataclass
class CsvFile:
    stats: FileReadStats
    header: list[str] = field(default_factory=list)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Text of a raw file and the encoding used: UTF-8 (BOM stripped), else cp1252, else UTF-8 with U+FFFD."""
    data = data.replace(b"\x00", b"")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), "utf-8 (invalid bytes replaced)"


def _record_text(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start - 1:end])[:MAX_RAW_CHARS]


def read_csv_records(path: Path, display_name: str) -> tuple[CsvFile, Iterator[RawRecord]]:
    """Open ``path`` and iterate its records. The header row is consumed here."""
    text, encoding = decode_bytes(Path(path).read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    info = CsvFile(FileReadStats(display_name, encoding))
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = next(reader)
    except StopIteration:
        return info, iter(())
    info.header = [h.strip() for h in header]
    return info, _iterate(reader, info, lines)


def _iterate(reader, info: CsvFile, lines: list[str]) -> Iterator[RawRecord]:
    header = info.header
    last_line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start = last_line + 1
            last_line = reader.line_num
            info.stats.records += 1
            yield RawRecord(info.stats.file, start, {}, [], len(header), _record_text(lines, start, start), f"csv error: {exc}")
            continue
        start, end = last_line + 1, reader.line_num
        last_line = end
        if not row or all(not cell.strip() for cell in row) and len(row) <= 1:
            info.stats.blank_lines += end - start + 1
            continue
        info.stats.records += 1
        raw = _record_text(lines, start, end)
        if end - start + 1 > MAX_RECORD_LINES:
            yield RawRecord(info.stats.file, start, {}, [], len(header), raw,
                            f"unbalanced quote: one record spans lines {start}-{end}")
            continue
        if any(len(cell) > MAX_FIELD_CHARS for cell in row):
            yield RawRecord(info.stats.file, start, {}, [], len(header), raw,
                            f"field too large: over {MAX_FIELD_CHARS} characters")
            continue
        fields = dict(zip(header, row))
        yield RawRecord(
            file=info.stats.file,
            line=start,
            fields=fields,
            extra=row[len(header):],
            missing=max(0, len(header) - len(row)),
            raw=raw,
            problem="invalid UTF-8 bytes" if info.stats.encoding != "utf-8" and "\ufffd" in raw else None,
        )
