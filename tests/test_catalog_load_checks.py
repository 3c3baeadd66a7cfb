"""The catalog load's blocking policy: an empty load or a file whose records were (mostly) all
quarantined blocks; a few bad rows and duplicate ids do not."""

from __future__ import annotations

from pathlib import Path

from recsys.catalog.ingest import ingest_catalogs
from recsys.catalog.load_checks import degraded_rows_and_fields, files_loaded

HEADER = "name,price,color,description,images,category\n"


def _asos_file(raw: Path, name: str, good: int, bad: int, duplicates: int = 0) -> None:
    rows = [f"Coat {i},10.00,Black,Coats by XProduct Code: {1000 + i},[],Asos\n" for i in range(good)]
    rows += [f"Coat {i} again,12.00,Black,Coats by XProduct Code: {1000 + i},[],Asos\n" for i in range(duplicates)]
    rows += [f",10.00,Black,Coats by XProduct Code: {5000 + i},[],Asos\n" for i in range(bad)]  # no name
    (raw / "asos").mkdir(parents=True, exist_ok=True)
    (raw / "asos" / name).write_text(HEADER + "".join(rows))


def test_a_few_bad_rows_and_duplicates_pass(tmp_path: Path):
    raw = tmp_path / "raw"
    _asos_file(raw, "a.csv", good=4, bad=2, duplicates=4)  # 2 of 10 rejected; duplicates keep their product
    outcome = files_loaded(ingest_catalogs(raw))
    assert outcome.passed, outcome.description
    assert outcome.rows == {"asos/a.csv": 2}


def test_a_mostly_quarantined_file_blocks_at_the_threshold(tmp_path: Path):
    raw = tmp_path / "raw"
    _asos_file(raw, "a.csv", good=10, bad=0)
    _asos_file(raw, "b.csv", good=4, bad=6)
    result = ingest_catalogs(raw)
    outcome = files_loaded(result)
    assert not outcome.passed
    assert "asos/b.csv: 6 of 10 records rejected" in outcome.description
    assert files_loaded(result, max_rejected_share=0.7).passed


def test_a_wholly_quarantined_file_blocks_whatever_the_threshold(tmp_path: Path):
    raw = tmp_path / "raw"
    _asos_file(raw, "a.csv", good=10, bad=0)
    (raw / "asos" / "export.csv").write_text("title;cost;colour\nCoat;12;Red\nJacket;20;Blue\n")
    outcome = files_loaded(ingest_catalogs(raw), max_rejected_share=1.0)
    assert not outcome.passed
    assert "asos/export.csv: 2 of 2 records rejected" in outcome.description


def test_an_empty_load_blocks(tmp_path: Path):
    raw = tmp_path / "raw"
    (raw / "asos").mkdir(parents=True)
    (raw / "asos" / "asos.csv").write_text(HEADER)
    outcome = files_loaded(ingest_catalogs(raw))
    assert not outcome.passed
    assert outcome.description.startswith("no products loaded from 1 raw files")
    assert "files without records: asos/asos.csv" in outcome.description
    assert not files_loaded(ingest_catalogs(tmp_path / "nothing")).passed


def test_every_degraded_row_field_and_image_reference_is_counted_in_the_warning(tmp_path: Path):
    raw = tmp_path / "raw"
    _asos_file(raw, "clean.csv", good=3, bad=0)
    assert degraded_rows_and_fields(ingest_catalogs(raw)).passed
    huge = "x" * 120_000
    (raw / "asos" / "faulty.csv").write_text(
        HEADER + f"Coat 9,10.00,Black,{huge},\"['file:///etc/passwd']\",Asos\n" + ",1.00,Red,no name,[],Asos\n")
    outcome = degraded_rows_and_fields(ingest_catalogs(raw))
    assert not outcome.passed
    assert outcome.rows["row quarantined: missing name"] == 1
    assert outcome.rows["field cut: asos.description"] == 1
    assert outcome.rows["image reference dropped: path escapes the raw folder"] == 1
