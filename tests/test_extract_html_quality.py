"""The default HTML extractor on real pages with hand-made main text, and the layout promises
every extractor keeps: code blocks character for character, blocks and list items as lines."""
from __future__ import annotations

from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.extract.html import choose
from prep.extract.html.blocks import page_text
from prep.extract.html.quality import load_set, score, tokens

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "tests" / "data" / "html"
# Mean per-page F1 of the default extractor on tests/data/html, measured with
# bench/html_quality.py (see bench/results/html_quality.md) and rounded down; the rules alone
# score lower on the same pages.
F1_FLOOR = 0.93

# A code block as syntax highlighters write it: <br> line ends, spans, a tab, trailing spaces and
# a blank line. Around it, enough prose for any extractor to take the page for an article.
CODE = "def area(r):\n\tpi = 3.14159   \n\n    return pi * r * r  # cm²"
HIGHLIGHTED = ('<pre><code><span class="k">def</span> area(r):<br/>\tpi = 3.14159   <br/><br/>'
               '    <span class="k">return</span> pi * r * r  <span class="c"># cm²</span></code></pre>')
PROSE = ("The area of a circle grows with the square of its radius, which is why a pizza twice as "
         "wide feeds four people rather than two. ")


def article(code_html: str) -> bytes:
    paragraphs = "".join(f"<p>{PROSE * 3}Paragraph {i}.</p>" for i in range(4))
    return (f"<html><head><title>Circles</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>Circles and their areas</h1>{paragraphs}{code_html}"
            f"<p>{PROSE * 2}The end.</p></article><footer>Copyright footer</footer></body></html>").encode()


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`tunesmith prep extract html` with no --extractor over the committed real pages."""
    from train.cli import main

    out = tmp_path_factory.mktemp("quality") / "pages.jsonl"
    assert main(["prep", "extract", "html", "--input", str(SET / "pages"), "--output", str(out),
                 "--quiet"]) == 0
    return outputs(out)


def test_default_extractor_meets_the_floor_on_real_pages(default_run):
    records, rejected, stats = default_run
    samples = load_set(SET)
    texts = {r["id"]: r["text"] for r in records}
    # No page whose ground truth has text comes out empty, or is dropped.
    assert rejected == [] and sorted(texts) == [s.name for s in samples]
    scores = {s.name: score(texts[s.name], s.truth) for s in samples}
    mean_f1 = sum(sc.f1 for sc in scores.values()) / len(scores)
    assert mean_f1 >= F1_FLOOR, {name: round(sc.f1, 3) for name, sc in scores.items()}
    rules_f1 = sum(score(page_text(s.page.read_bytes()).text, s.truth).f1 for s in samples) / len(samples)
    assert mean_f1 > rules_f1
    assert sum(stats["extractors"].values()) == stats["kept"] == len(samples)


def test_every_committed_page_has_ground_truth_and_a_source_line():
    samples = load_set(SET)
    assert len(samples) >= 5 and all(tokens(s.truth) for s in samples)
    sources = (SET / "SOURCES.md").read_text(encoding="utf-8")
    assert all(s.name in sources for s in samples)


def test_a_page_without_ground_truth_is_named(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "lonely.html").write_text("<p>x</p>")
    with pytest.raises(ValueError, match="lonely.html: no ground truth"):
        load_set(tmp_path)


@pytest.mark.parametrize("extract", [page_text, choose.trafilatura_extract, choose.auto_extract])
def test_code_blocks_are_kept_character_for_character(extract):
    plain = f"<pre>{CODE.replace('&', '&amp;').replace('<', '&lt;')}\n</pre>"
    for html in (plain, HIGHLIGHTED):
        page = extract(article(html))
        assert f"\n\n{CODE}\n\n" in page.text, (extract.__name__, page.text)
        assert "Home" not in page.text and "Copyright footer" not in page.text


@pytest.mark.parametrize("extract", [page_text, choose.trafilatura_extract, choose.auto_extract])
def test_preformatted_prose_and_bare_code_keep_their_lines(extract):
    """trafilatura turns a <pre> that does not look like code into a quote (spaces collapsed);
    the rules alone would read a multi-line <code> without <pre> as running text."""
    shell = "$ tunesmith prep extract html --input pages/\n  kept 4 pages, 0 dropped\n\tdone"
    bare = "for page in pages:\n    print(page)  \n\n# end"
    for html, block in ((f"<pre>{shell}</pre>", shell), (f"<div><code>{bare}</code></div>", bare)):
        text = extract(article(html)).text
        assert f"\n\n{block}\n\n" in text, (extract.__name__, text)


def test_real_code_blocks_match_across_extractors():
    """v8.dev writes code as <pre><code> with <br> line ends and highlighter spans."""
    data = (SET / "pages" / "readability-v8-blog.html").read_bytes()
    block = '// hello.cpp\n#include <stdio.h>\n\nint main() {\n  printf("hello, world!\\n");\n  return 0;\n}'
    for extract in (page_text, choose.trafilatura_extract, choose.auto_extract):
        assert f"\n\n{block}\n\n" in extract(data).text, extract.__name__


def test_trafilatura_text_keeps_blocks_and_list_items_and_leaves_comments():
    data = (SET / "pages" / "readability-001.html").read_bytes()
    text = choose.trafilatura_extract(data).text
    assert ("\n\nThe idea behind code coverage is to record which parts of your code (functions, "
            "statements, conditionals") in text                   # one paragraph, one line
    assert ("\n- Notice the data-cover attribute we added to the script tag loading the source of our "
            "library;\n- The HTML test file must be served") in text
    for furniture in ("Photography", "Tweet at me", "Enjoy my pics", "Permalink"):
        assert furniture not in text
    comments = article("").replace(
        b"</article>", b'</article><div id="comments"><h3>3 comments</h3><p>Great post, I learned a lot '
        b'about circles today, thanks for writing this up!</p></div>')
    assert "Great post" not in choose.trafilatura_extract(comments).text


def test_auto_falls_back_to_the_rules_when_trafilatura_keeps_a_fragment(monkeypatch):
    data = article(HIGHLIGHTED)
    assert choose.auto_extract(data).extractor == "trafilatura"
    monkeypatch.setattr(choose, "trafilatura_result", lambda markup, **_: ([("block", "Paragraph 1.")], None))
    page = choose.auto_extract(data)
    assert page.extractor == "bs4" and "Circles and their areas" in page.text and page.title == "Circles"
    monkeypatch.setattr(choose, "trafilatura_result", lambda markup, **_: ([], None))
    assert choose.auto_extract(data).extractor == "bs4"


def test_scores_count_tokens_as_a_bag():
    assert score("a b c", "a b c").f1 == 1.0
    assert score("", "a b").f1 == 0.0 and score("x y", "a b").f1 == 0.0
    half = score("one two three four", "one two")                # all of the truth, twice the text
    assert (half.precision, half.recall) == (0.5, 1.0)
    assert sum(tokens("商標法違反").values()) == 5                 # one token per ideograph
    assert tokens("Don't, DON'T") == tokens("don t don t")
