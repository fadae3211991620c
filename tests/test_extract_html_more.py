"""`tunesmith prep extract html` with its defaults on real pages of kinds tests/data/html lacks:
pages in legacy single-byte charsets that declare no charset at all (tests/data/html_more).

Each page has a hand-checked main text in truth/NAME.txt (typed from what a reader of the page
sees, not produced by this code); see tests/data/html_more/SOURCES.md.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.extract.html.charset import decode

SET = Path(__file__).resolve().parent / "data" / "html_more"
PAGES = sorted(p.name for p in (SET / "pages").glob("*.html"))
# Pages whose main text still comes out damaged: the kz1048 page is read as windows-1251, its
# nearest charset, so the Kazakh letters ө қ ң (3 of its 26 words) come out as ґ ќ ѕ.
KNOWN_DAMAGE = {"chardet-kz1048.html"}
RECALL_FLOOR = 0.9
# "end.Start": a sentence end glued to the next block's first letter (Latin or Cyrillic).
GLUED = re.compile(r"[a-zà-ÿıа-яёөқңүұһәі][.!?…:][A-ZÀ-ÞİА-ЯЁӨҚҢҮҰҺӘІ]")


def truth(name: str) -> str:
    return (SET / "truth" / name.replace(".html", ".txt")).read_text(encoding="utf-8")


def sentences(text: str) -> list[str]:
    """The truth's sentences, whitespace collapsed (a source line break renders as a space)."""
    flat = " ".join(text.split())
    return [s for s in re.split(r"(?<=[.!?…])\s+", flat) if s]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The stage as README runs it: no flags but input and output."""
    from train.cli import main

    out = tmp_path_factory.mktemp("html_more") / "pages.jsonl"
    assert main(["prep", "extract", "html", "--input", str(SET / "pages"), "--output", str(out),
                 "--quiet"]) == 0
    records, rejected, stats = outputs(out)
    return {r["id"]: r for r in records}, rejected, stats


def test_every_page_is_kept_with_text(default_run):
    records, rejected, stats = default_run
    assert rejected == [] and sorted(records) == PAGES
    assert stats["read"] == stats["kept"] == len(PAGES)
    assert all(records[name]["text"].strip() for name in PAGES)


@pytest.mark.parametrize("name", sorted(set(PAGES) - KNOWN_DAMAGE))
def test_truth_sentences_are_recalled(default_run, name):
    text = " ".join(default_run[0][name]["text"].split())
    wanted = sentences(truth(name))
    found = [s for s in wanted if s in text]
    assert len(found) / len(wanted) >= RECALL_FLOOR, sorted(set(wanted) - set(found))


@pytest.mark.parametrize("name", PAGES)
def test_no_glued_sentence_boundaries(default_run, name):
    assert not GLUED.findall(default_run[0][name]["text"])


@pytest.mark.parametrize("name", sorted(set(PAGES) - KNOWN_DAMAGE))
def test_no_mojibake(default_run, name):
    """Every non-ASCII character of the output is one a reader sees in the page."""
    text = default_run[0][name]["text"]
    foreign = {c for c in text if ord(c) > 127} - set(truth(name))
    assert not foreign and "\ufffd" not in text, sorted(foreign)


def test_undeclared_windows_1254_page_is_detected_not_read_as_1252():
    # The page declares no charset and its bytes are not UTF-8: windows-1252 decodes any byte, so
    # taking it before a detector turned "yapılan" into "yapýlan" and "karşısında" into "karþýsýnda".
    page = decode((SET / "pages" / "chardet-windows-1254.html").read_bytes())
    assert (page.encoding, page.decision, page.declared) == ("cp1254", "charset_detected", None)
    assert " ".join(truth("chardet-windows-1254.html").split()) in " ".join(page.text.split())


def test_undeclared_kazakh_page_comes_out_cyrillic(default_run):
    """Read as windows-1251: Cyrillic, not Latin mojibake; only the Kazakh-only letters differ."""
    record = default_run[0]["chardet-kz1048.html"]
    assert record["meta"]["encoding"] == "cp1251"
    assert not re.search("[À-ÿ]", record["text"])
    assert "Канада азаматымын." in record["text"]


@pytest.mark.xfail(strict=True, reason="kz1048 is told from windows-1251 by 8 letters only; the "
                   "detector ranks windows-1251 first on this 260-byte page")
def test_undeclared_kazakh_page_keeps_kazakh_letters(default_run):
    assert "сөйлескім" in default_run[0]["chardet-kz1048.html"]["text"]
