"""How close an extractor's text is to hand-made main text: token precision, recall and F1.

Tokens are runs of letters and digits, lowercased; a character of a script written without
spaces (Chinese, Japanese, Korean) is a token by itself, so those pages are not scored as a
handful of sentence-long "words". Counts are a bag (a word that appears three times in the
truth and twice in the output matches twice), so word order and layout do not matter, only
what text was kept and what was left.

A ground-truth set is a folder with ``pages/NAME.html`` and, for each page, its main text in
``truth/NAME.txt`` (plain text), ``truth/NAME.html`` (an HTML fragment of the main content,
whose text is what counts) or an entry ``NAME.html`` in ``truth.json`` whose
``articleBody`` is the text (the layout of public extraction benchmarks).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import lxml.html

# Hiragana, katakana, CJK ideographs (with extension A and compatibility forms) and Hangul.
NO_SPACE_SCRIPTS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
TOKEN = re.compile(rf"[{NO_SPACE_SCRIPTS}]|[^\W_{NO_SPACE_SCRIPTS}]+")


@dataclass
class Score:
    precision: float
    recall: float
    f1: float


@dataclass
class Sample:
    name: str
    page: Path
    truth: str


def tokens(text: str) -> Counter:
    return Counter(TOKEN.findall(text.lower()))


def score(predicted: str, truth: str) -> Score:
    """Bag-of-tokens precision, recall and F1 of ``predicted`` against ``truth``.

    An empty output scores 0 on all three (it kept nothing); so does an empty truth.
    """
    got, want = tokens(predicted), tokens(truth)
    matched = sum((got & want).values())
    if not matched:
        return Score(0.0, 0.0, 0.0)
    precision, recall = matched / sum(got.values()), matched / sum(want.values())
    return Score(precision, recall, 2 * precision * recall / (precision + recall))


def fragment_text(html: str) -> str:
    """The text of an HTML fragment, one line per block (for scoring, layout does not matter)."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return "\n".join(" ".join(piece.split()) for piece in root.itertext() if piece.strip())


def load_set(folder: Path) -> list[Sample]:
    """Every page of a ground-truth set with its main text, in name order.

    Raises ValueError naming the page when a page has no ground truth.
    """
    folder = Path(folder)
    table = json.loads((folder / "truth.json").read_text(encoding="utf-8")) if (folder / "truth.json").exists() else {}
    samples = []
    for page in sorted((folder / "pages").glob("*.html")):
        stem, truth_dir = page.stem, folder / "truth"
        if (truth_dir / f"{stem}.txt").exists():
            truth = (truth_dir / f"{stem}.txt").read_text(encoding="utf-8")
        elif (truth_dir / f"{stem}.html").exists():
            truth = fragment_text((truth_dir / f"{stem}.html").read_text(encoding="utf-8"))
        elif page.name in table:
            truth = table[page.name]["articleBody"]
        else:
            raise ValueError(f"{page}: no ground truth (truth/{stem}.txt, truth/{stem}.html or "
                             f"an entry {page.name!r} in truth.json)")
        samples.append(Sample(page.name, page, truth))
    return samples
