"""Hostile pages for `prep extract html`: huge comments, oversize and binary files, lying charsets.

Every input is built here. Each run ends with exit status 0 or 2 and a stats file whose counts
add up (read == kept + dropped + errors); refused files are in the rejects file with a reason.
"""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.extract.html.blocks import page_text
from prep.extract.html.charset import NotText, decode
from prep.extract.html.choose import auto_extract

ROOT = Path(__file__).resolve().parents[1]
# Over libxml2's cap on one node (10,000,000 bytes), past which a comment used to become text.
HUGE = 11_000_000
GOOD = b"<html><head><title>Good</title></head><body><p>A real page with a sentence of prose.</p></body></html>"
RUSSIAN = ("Это обычный текст на русском языке, записанный в кодировке UTF-8. "
           "Второе предложение нужно, чтобы абзац был похож на статью.")


def page(middle: str) -> bytes:
    return ("<html><head><title>Huge</title></head><body><article><p>The first paragraph of the "
            f"article, a sentence of prose.</p>{middle}<p>The paragraph after it, also a sentence of "
            "prose.</p></article></body></html>").encode("utf-8")


def run(cli, tmp_path: Path, files: dict[str, bytes], *flags):
    folder = tmp_path / "pages"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "html", "--input", folder, "--output", out, *flags)
    assert code in (0, 2) and "Traceback" not in err, err
    return code, err, *outputs(out)


@pytest.mark.parametrize("extractor", ["bs4", "auto"])
def test_a_comment_over_10_mb_never_reaches_the_text(cli, tmp_path, extractor):
    code, _, records, _, stats = run(cli, tmp_path, {"huge.html": page("<!-- " + "x" * HUGE + " -->")},
                                     "--extractor", extractor, "--quiet")
    assert code == 0 and stats["kept"] == 1
    text = records[0]["text"]
    assert "xxxx" not in text and len(text) < 200
    assert text.startswith("The first paragraph") and text.endswith("The paragraph after it, also a sentence of prose.")


@pytest.mark.parametrize("middle", [
    "<script>var s = '" + "x" * HUGE + "';</script>",
    "<style>p {}" + "x" * HUGE + "</style>",
    "<?php " + "x" * HUGE + " ?>",
    "<![CDATA[" + "x" * HUGE + "]]>",
    "<!x" + "x" * HUGE + ">",
], ids=["script", "style", "processing-instruction", "cdata", "bogus-comment"])
def test_no_huge_node_that_is_not_text_leaks(middle):
    data = page(middle)
    # auto runs trafilatura's parse and the rules (trafilatura's plain mode adds only a date search).
    for extract in (page_text, auto_extract):
        text = extract(data).text
        assert "xxxx" not in text and "The first paragraph" in text, extract.__name__
        assert "The paragraph after it" in text, extract.__name__


def test_a_page_over_the_limit_is_dropped_with_its_size_unread(cli, tmp_path, monkeypatch):
    parsed = []
    monkeypatch.setattr("prep.extract.html.choose.auto_extract",
                        lambda data: parsed.append(len(data)) or page_text(data))
    big = b"<p>" + b"a" * 20_000_000 + b"</p>"          # over the default 20,000,000 bytes
    code, err, records, rejected, stats = run(cli, tmp_path, {"big.html": big, "good.html": GOOD})
    assert code == 0 and [r["id"] for r in records] == ["good.html"]
    assert parsed == [len(GOOD)]                          # the big file never reached an extractor
    assert stats["dropped"] == {"too_large": 1} and stats["options"]["max_page_bytes"] == 20_000_000
    [reject] = rejected
    assert reject["reason"] == "too_large" and reject["where"].endswith("big.html")
    assert reject["detail"] == f"{len(big)} bytes, over --max-page-bytes 20000000"
    assert f"dropped {reject['where']}" in err


def test_the_page_limit_is_a_flag(cli, tmp_path):
    code, _, records, rejected, stats = run(cli, tmp_path, {"good.html": GOOD, "long.html": GOOD + b" " * 200},
                                            "--max-page-bytes", len(GOOD), "--quiet", "--extractor", "bs4")
    assert code == 0 and [r["id"] for r in records] == ["good.html"]
    assert rejected[0]["record"]["meta"]["bytes"] == len(GOOD) + 200 and stats["dropped"] == {"too_large": 1}


def test_a_page_limit_below_one_byte_is_a_setup_error(cli, tmp_path):
    (tmp_path / "a.html").write_bytes(GOOD)
    code, _, err = cli("prep", "extract", "html", "--input", tmp_path / "a.html", "--output", tmp_path / "o.jsonl",
                       "--max-page-bytes", "0")
    assert code == 2 and "--max-page-bytes takes a positive number of bytes; got 0" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_binary_files_named_html_are_errors_with_a_reason(cli, tmp_path):
    rng = random.Random(7)
    noise = bytes(b for b in rng.randbytes(120_000) if b)[:100_000]      # no NUL byte anywhere
    assert b"\x00" not in noise
    files = {"noise.html": noise, "packed.html": gzip.compress(GOOD * 50), "good.html": GOOD}
    code, err, records, rejected, stats = run(cli, tmp_path, files)
    assert code == 0 and [r["id"] for r in records] == ["good.html"]
    assert stats["errors"] == 2 and stats["error_reasons"] == {"binary data": 2}
    assert {Path(r["where"]).name for r in rejected} == {"noise.html", "packed.html"}
    assert all("not an HTML page" in r["detail"] for r in rejected)
    assert "noise.html" in err and "control characters or undecodable bytes" in err


def test_only_binary_input_exits_2_without_a_traceback(cli, tmp_path):
    noise = bytes(b for b in random.Random(3).randbytes(6000) if b)[:5000]
    code, err, records, _, stats = run(cli, tmp_path, {"noise.html": noise}, "--quiet")
    assert code == 2 and records == [] and stats["errors"] == 1 and "kept 0 of 1" in err


def test_utf8_page_labelled_windows_1251_is_read_as_utf8_and_counted(cli, tmp_path):
    body = f"<html><head><meta charset='windows-1251'><title>Статья</title></head><body><p>{RUSSIAN}</p></body></html>"
    honest = body.replace("windows-1251", "utf-8")
    assert b"\x98" not in body.encode("utf-8")     # windows-1251 decodes these bytes: the label "works"
    files = {"lying.html": body.encode("utf-8"), "honest-1251.html": body.encode("cp1251"),
             "honest-utf8.html": honest.encode("utf-8")}
    code, _, records, _, stats = run(cli, tmp_path, files, "--quiet", "--extractor", "bs4")
    assert code == 0 and stats["kept"] == 3
    by_id = {r["id"]: r for r in records}
    for record in by_id.values():
        assert record["text"] == RUSSIAN and record["meta"]["title"] == "Статья"
    assert by_id["lying.html"]["meta"]["encoding"] == "utf-8"
    assert by_id["lying.html"]["meta"]["declared_encoding"] == "cp1251"
    assert by_id["honest-1251.html"]["meta"]["encoding"] == "cp1251"           # a true label is followed
    assert "declared_encoding" not in by_id["honest-1251.html"]["meta"]
    assert stats["charset_decisions"] == {"charset_detected": 0, "charset_fallback": 0, "charset_overridden": 1}


def test_a_label_that_does_not_decode_falls_back_and_is_counted(cli, tmp_path):
    files = {"utf8-label.html": '<meta charset="utf-8"><p>Crème brûlée, déjà vu</p>'.encode("cp1252"),
             # "И" is D0 98 in UTF-8, and 0x98 is no character in windows-1251: the label cannot be right.
             "1251-label.html": "<meta charset='windows-1251'><p>История города</p>".encode("utf-8"),
             "no-label.html": "<p>Crème brûlée, déjà vu</p>".encode("cp1252")}
    code, _, records, _, stats = run(cli, tmp_path, files, "--quiet", "--extractor", "bs4")
    by_id = {r["id"]: r for r in records}
    assert code == 0 and by_id["utf8-label.html"]["text"] == "Crème brûlée, déjà vu"
    assert by_id["no-label.html"]["text"] == "Crème brûlée, déjà vu"
    assert by_id["1251-label.html"]["text"] == "История города"
    assert by_id["1251-label.html"]["meta"]["declared_encoding"] == "cp1251"
    assert by_id["utf8-label.html"]["meta"]["declared_encoding"] == "utf-8"
    assert stats["charset_decisions"] == {"charset_detected": 1, "charset_fallback": 2, "charset_overridden": 0}
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]


def test_ascii_and_legacy_pages_keep_their_label():
    assert decode(b"<meta charset='windows-1251'><p>plain ASCII</p>").decision is None
    latin = decode('<meta charset="iso-8859-1"><p>“Zoë” costs €5</p>'.encode("cp1252"))
    assert (latin.encoding, latin.decision) == ("cp1252", None)


def test_real_pages_are_text():
    """No page of the committed real samples is taken for binary or has its label overridden."""
    pages = sorted((ROOT / "tests" / "data" / "html" / "pages").glob("*.html"))
    pages += sorted((ROOT / "data" / "raw" / "html").glob("*.html"))
    assert len(pages) > 10
    for path in pages:
        decoded = decode(path.read_bytes())
        assert decoded.decision is None, path.name


def test_control_characters_in_a_short_page_are_not_binary():
    assert decode(b"<p>one stray \x01 control</p>").text.startswith("<p>one")
    with pytest.raises(NotText, match="binary data"):
        decode(b"<p>" + b"\x01\x02\x03\x04\x05" * 10 + b"</p>")
