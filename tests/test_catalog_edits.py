"""The nightly catalog edit (recsys.synthetic.catalog_edits) on styles files with outside-data quirks."""

from __future__ import annotations

from recsys.synthetic.catalog_edits import change_styles

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"


def _row(style_id: int, name: str) -> str:
    return f"{style_id},Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,{name}"


def test_junk_blank_and_short_lines_are_left_alone_and_only_styles_are_edited(tmp_path):
    styles = tmp_path / "raw" / "myntra" / "styles"
    styles.mkdir(parents=True)
    (tmp_path / "raw" / "myntra" / "images").mkdir()
    lines = ["", "junk row without fields", _row(11, "First"), "12,Men,short", _row(13, "Second"),
             _row(14, "Third"), "", _row(15, "Fourth"), _row(16, "Fifth"), ""]
    (styles / "styles-00000.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    (tmp_path / "raw" / "myntra" / "images" / "16.jpg").write_bytes(b"jpeg")

    edit = change_styles(tmp_path, new=1, changed=1, removed=1)

    assert edit.removed == ["myntra_styles:11"] and edit.changed == ["myntra_styles:13"]
    assert edit.new == ["myntra_styles:990000"]
    text = (styles / "styles-00000.csv").read_text(encoding="utf-8").splitlines()
    assert "junk row without fields" in text and "12,Men,short" in text and text.count("") == 3
    assert not any(line.startswith("11,") for line in text)
    assert _row(13, "Hand-woven linen festival kurta in saffron") in text
    assert text[-1] == "990000,Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,Limited edition 0 of a best seller"
    assert (tmp_path / "raw" / "myntra" / "images" / "990000.jpg").read_bytes() == b"jpeg"

    again = change_styles(tmp_path, new=1, changed=0, removed=0)       # a second night: a fresh id
    assert again.new == ["myntra_styles:990001"]
