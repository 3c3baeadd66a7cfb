"""Raw CSV files as records with their line numbers, tolerant of what real exports contain.

Handles byte-order marks (UTF-8, UTF-16 and UTF-32, as Excel's "CSV UTF-8" and "Unicode text"
write them, also a BOM doubled or mis-decoded into "ï»¿"), tab-separated files saved as .csv,
CRLF/CR line endings, quoted multi-line fields, NUL bytes, files that are not UTF-8 (cp1252 when
the whole file decodes as that, else stray bytes read as cp1252, and rows with bytes undefined
there flagged for the caller to quarantine), blank lines (skipped and counted), a stray quote that
would swallow the rest of the file (the record is cut at a line limit and reported), and fields
too large to be data (truncated, and named on the record so the caller counts them).
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_RAW_CHARS = 1_000          # raw text kept in quarantine rows
MAX_RECORD_LINES = 200         # a quoted field spanning more physical lines than this is broken
MAX_FIELD_CHARS = 100_000      # larger fields are cut to this length

csv.field_size_limit(sys.maxsize)

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# What a BOM looks like in text: the character itself, or its UTF-8 bytes read as cp1252 by an
# earlier tool and saved again.
_BOM_TEXTS = ("\ufeff", "ï»¿")
_INVALID_BYTES = "\ufffd"


def _stray_bytes_as_cp1252(error: UnicodeDecodeError) -> tuple[str, int]:
    """Decode error handler: a byte that is not UTF-8 is read as cp1252 (what stray bytes in
    exports almost always are); a byte cp1252 leaves undefined becomes U+FFFD."""
    byte = error.object[error.start:error.start + 1]
    return byte.decode("cp1252", errors="replace"), error.start + 1


codecs.register_error("recsys-cp1252-bytes", _stray_bytes_as_cp1252)


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
    truncated: tuple[str, ...] = ()  # columns cut to MAX_FIELD_CHARS (extra fields: "column <n>")


@dataclass
class FileReadStats:
    file: str
    encoding: str = "utf-8"
    records: int = 0
    blank_lines: int = 0
    invalid_bytes: bool = False  # some bytes decoded to U+FFFD: the records holding one are flagged
    delimiter: str = ","


@dataclass
class CsvFile:
    stats: FileReadStats
    header: list[str] = field(default_factory=list)


def decode_bytes(data: bytes) -> tuple[str, str, bool]:
    """Text of a raw file, the encoding read, and whether some bytes could not be decoded (U+FFFD).

    A BOM decides: UTF-16/32 as marked, UTF-8 for the UTF-8 mark (a file that says it is UTF-8 is
    never re-read as cp1252, which kept the mark as "ï»¿" in the first header and garbled every
    non-ASCII character). Without a BOM: UTF-8, else cp1252 when the whole file is cp1252. What
    remains is UTF-8 with its stray bytes read as cp1252. The mark never reaches the text.
    """
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return _without_marks(data.decode(codec)), codec, False
            except UnicodeDecodeError:
                return _without_marks(data.decode(codec, errors="replace")), f"{codec} (invalid bytes replaced)", True
    has_bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if has_bom else data
    label = "utf-8-sig" if has_bom else "utf-8"
    try:
        return _without_marks(body.decode("utf-8")), label, False
    except UnicodeDecodeError:
        pass
    if not has_bom:
        try:
            return _without_marks(body.decode("cp1252")), "cp1252", False
        except UnicodeDecodeError:
            pass
    text = _without_marks(body.decode("utf-8", errors="recsys-cp1252-bytes"))
    return text, f"{label} (stray bytes as cp1252)", _INVALID_BYTES in text


def _without_marks(text: str) -> str:
    """NUL characters and byte-order marks removed: the file's leading mark(s), in whatever form,
    and a U+FEFF anywhere else (files concatenated with their marks)."""
    text = text.replace("\x00", "")
    while text.startswith(_BOM_TEXTS):
        text = text[1:] if text[0] == "\ufeff" else text[3:]
    return text.replace("\ufeff", "")


def _delimiter(first_line: str) -> str:
    """Tab for a tab-separated header (Excel's "Unicode text" is one, whatever the file is called)."""
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _record_text(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start - 1:end])[:MAX_RAW_CHARS]


def read_csv_records(path: Path, display_name: str) -> tuple[CsvFile, Iterator[RawRecord]]:
    """Open ``path`` and iterate its records. The header row is consumed here."""
    text, encoding, invalid_bytes = decode_bytes(Path(path).read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    info = CsvFile(FileReadStats(display_name, encoding, invalid_bytes=invalid_bytes, delimiter=_delimiter(lines[0])))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=info.stats.delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        return info, iter(())
    info.header = [h.strip() for h in header]
    return info, _iterate(reader, info, lines)


def _cut_long_fields(row: list[str], header: list[str]) -> tuple[list[str], tuple[str, ...]]:
    if all(len(cell) <= MAX_FIELD_CHARS for cell in row):
        return row, ()
    names = [*header, *(f"column {i + 1}" for i in range(len(header), len(row)))]
    truncated = tuple(name for name, cell in zip(names, row) if len(cell) > MAX_FIELD_CHARS)
    return [cell[:MAX_FIELD_CHARS] for cell in row], truncated


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
        row, truncated = _cut_long_fields(row, header)
        invalid = info.stats.invalid_bytes and any(_INVALID_BYTES in cell for cell in row)
        yield RawRecord(
            file=info.stats.file,
            line=start,
            fields=dict(zip(header, row)),
            extra=row[len(header):],
            missing=max(0, len(header) - len(row)),
            raw=raw,
            problem="invalid UTF-8 bytes" if invalid else None,
            truncated=truncated,
        )
