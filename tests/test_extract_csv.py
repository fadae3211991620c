"""`tunesmith prep extract csv`: quoting, encodings, the three modes, bad rows with their lines."""
from __future__ import annotations

from pathlib import Path

import pytest
from stage_outputs import read_jsonl, sidecar, stats_of

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "raw" / "articles.csv"

# Line numbers below are those of this text: header 1, row 1 on lines 2-3 (a quoted line
# break), a blank line 5, a row with a doubled quote and a comma on line 7.
SMALL = ('id,title,body,tag\n'
         '1,"Commas, inside","first line\nsecond line",x\n'
         '2,Zoë 東京,naïve café,y\n'
         '\n'
         '3,Empty body,,z\n'
         '4,"He said ""hi"", then left",ok,w\n')


@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_text_column_keeps_quoting_newlines_and_non_ascii(cli, small_csv, tmp_path):
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", out,
                       "--text-column", "body")
    assert code == 0, err
    assert read_jsonl(out) == [
        {"id": "small.csv:1", "text": "first line\nsecond line",
         "meta": {"source": str(small_csv), "row": 1, "line": 2}},
        {"id": "small.csv:2", "text": "naïve café",
         "meta": {"source": str(small_csv), "row": 2, "line": 4}},
        {"id": "small.csv:4", "text": "ok", "meta": {"source": str(small_csv), "row": 4, "line": 7}},
    ]
    [rejected] = read_jsonl(sidecar(out, ".rejected.jsonl"))
    assert (rejected["reason"], rejected["where"]) == ("empty", f"{small_csv}:6")
    stats = stats_of(out)
    assert (stats["read"], stats["kept"], stats["dropped"], stats["errors"]) == (4, 3, {"empty": 1}, 0)


def test_pair_label_id_and_kept_columns(cli, small_csv, tmp_path):
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", out,
                       "--input-column", "title", "--output-column", "body", "--label-column", "tag",
                       "--id-column", "id", "--keep-columns", "tag,title")
    assert code == 0, err
    first, second, third = read_jsonl(out)
    assert first == {"id": "1", "input": "Commas, inside", "output": "first line\nsecond line", "label": "x",
                     "meta": {"source": str(small_csv), "row": 1, "line": 2,
                              "tag": "x", "title": "Commas, inside"}}
    assert (second["input"], second["label"]) == ("Zoë 東京", "y")
    assert third["input"] == 'He said "hi", then left'


def test_other_columns_are_not_copied(cli, small_csv, tmp_path):
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", out,
                       "--text-column", "title")
    assert code == 0, err
    for record in read_jsonl(out):
        assert set(record) == {"id", "text", "meta"} and set(record["meta"]) == {"source", "row", "line"}


def test_missing_column_stops_and_lists_columns(cli, small_csv, tmp_path):
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", out,
                       "--text-column", "content")
    assert code == 2
    assert "no column 'content'" in err and "its columns are: id, title, body, tag" in err
    assert "Traceback" not in err
    assert not out.exists() and not sidecar(out, ".stats.json").exists()
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", out,
                       "--text-column", "body", "--keep-columns", "author")
    assert code == 2 and "no column 'author'" in err


def test_template_mode(cli, small_csv, tmp_path):
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", out,
                       "--template", r"# {title}\n{body} {{{tag}}}")
    assert code == 0, err
    texts = [r["text"] for r in read_jsonl(out)]
    # Row 3's body is empty: it renders as nothing, the row is kept.
    assert texts == ["# Commas, inside\nfirst line\nsecond line {x}", "# Zoë 東京\nnaïve café {y}",
                     "# Empty body\n {z}", '# He said "hi", then left\nok {w}']
    assert stats_of(out)["dropped"] == {}


def test_template_with_an_optional_column(cli, tmp_path):
    """Alpaca exported as CSV: an empty input renders as nothing, a row with nothing at all is dropped,
    and a cell of code keeps the indentation of its first line."""
    src = tmp_path / "alpaca.csv"
    src.write_text('instruction,input,output\n'
                   'Add the numbers.,2 and 3,5\n'
                   'Name a colour.,,Teal.\n'
                   ',,\n'
                   'Fix the loop.,"    for i in range(3):\n    print(i)",ok\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", src, "--output", out, "--quiet",
                       "--template", r"{instruction}\n\n{input}")
    assert code == 0, err
    assert [r["text"] for r in read_jsonl(out)] == [
        "Add the numbers.\n\n2 and 3", "Name a colour.", "Fix the loop.\n\n    for i in range(3):\n    print(i)"]
    assert stats_of(out)["dropped"] == {"empty": 1}


def test_template_with_unknown_field_lists_columns(cli, small_csv, tmp_path):
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", tmp_path / "o.jsonl",
                       "--template", "{title}\n{summary}")
    assert code == 2
    assert "'summary'" in err and "its columns are: id, title, body, tag" in err


def test_malformed_rows_are_errors_with_their_lines(cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b'a,b,c\n'
                     b'1,"two\nlines",ok\n'     # lines 2-3, good
                     b'2,too,many,fields\n'     # line 4
                     b'3,few\n'                 # line 5
                     b'4,"x"y,z\n'              # line 6: text after a closing quote
                     b'5,caf\xe9,z\n'           # line 7: not UTF-8
                     b'6,fine,row\n')           # line 8, good
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", path, "--output", out, "--text-column", "b")
    assert code == 0, err
    assert [r["meta"]["line"] for r in read_jsonl(out)] == [2, 8]
    rejected = read_jsonl(sidecar(out, ".rejected.jsonl"))
    assert [(r["where"], r["detail"]) for r in rejected] == [
        (f"{path}:4", "expected 3 fields, found 4"),
        (f"{path}:5", "expected 3 fields, found 2"),
        (f"{path}:6", "broken quoting: ',' expected after '\"'"),
        (f"{path}:7", "bytes that are not utf-8; try --encoding"),
    ]
    assert rejected[0]["raw"] == "2,too,many,fields"
    assert f"{path}:4" in err
    stats = stats_of(out)
    assert (stats["read"], stats["kept"], stats["errors"]) == (6, 2, 4)


def test_unterminated_quote_is_an_error_not_silence(cli, tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('a,b\n1,ok\n2,"never closed\n3,x\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert cli("prep", "extract", "csv", "--input", path, "--output", out, "--text-column", "b")[0] == 0
    assert [r["text"] for r in read_jsonl(out)] == ["ok"]
    [rejected] = read_jsonl(sidecar(out, ".rejected.jsonl"))
    assert rejected["where"] == f"{path}:3" and "broken quoting" in rejected["detail"]


def test_bom_crlf_delimiter_and_encoding(cli, tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffname;note\r\nZoë;\"a;b\r\nc\"\r\n".encode("utf-8"))
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", bom, "--output", out, "--delimiter", "semicolon",
                       "--template", "{name}: {note}")
    assert code == 0, err
    assert read_jsonl(out)[0]["text"] == "Zoë: a;b\nc"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("title\tbody\nCrème\t“brûlée” €4\n".encode("cp1252"))
    code, _, err = cli("prep", "extract", "csv", "--input", latin, "--output", out, "--delimiter", "\\t",
                       "--encoding", "cp1252", "--text-column", "body")
    assert code == 0, err
    assert read_jsonl(out)[0]["text"] == "“brûlée” €4"


def test_chunked_reading_matches_one_chunk_and_reruns_are_identical(cli, tmp_path):
    outputs = []
    for name, chunk in (("a.jsonl", "2"), ("b.jsonl", "100000"), ("c.jsonl", "2")):
        out = tmp_path / name
        code, _, err = cli("prep", "extract", "csv", "--input", ARTICLES, "--output", out,
                           "--chunk-size", chunk, "--template", r"{title}\n\n{body}",
                           "--label-column", "category", "--quiet")
        assert code == 0, err
        outputs.append(out)
    contents = {out.read_bytes() for out in outputs}
    rejects = {sidecar(out, ".rejected.jsonl").read_bytes() for out in outputs}
    assert len(contents) == 1 and len(rejects) == 1


def test_sample_articles(cli, tmp_path):
    out = tmp_path / "articles.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", ARTICLES, "--output", out,
                       "--text-column", "body", "--id-column", "id", "--label-column", "category",
                       "--keep-columns", "author_name")
    assert code == 0, err
    records = {r["id"]: r for r in read_jsonl(out)}
    assert len(records) == 11 and "a-107" not in records           # the draft has no body
    assert records["a-101"]["text"].startswith("Side shoots steal energy from the fruit, so most")
    assert "\n\nEverything else goes on a list" in records["a-104"]["text"]
    assert records["a-103"]["meta"]["author_name"] == "佐藤 美咲"
    assert records["a-106"]["meta"]["author_name"] == "Чеслав Новак"
    assert records["a-110"]["text"].startswith('Recipes say "until doubled", not "one hour"')
    stats = stats_of(out)
    assert (stats["read"], stats["kept"], stats["dropped"], stats["errors"]) == (12, 11, {"empty": 1}, 0)


@pytest.mark.parametrize("flags, message", [
    (["--input-column", "title"], "--input-column and --output-column go together"),
    ([], "say what a record holds"),
    (["--text-column", "body", "--delimiter", "::"], "one character expected"),
    (["--text-column", "body", "--encoding", "klingon"], "unknown encoding"),
])
def test_setup_errors(cli, small_csv, tmp_path, flags, message):
    code, _, err = cli("prep", "extract", "csv", "--input", small_csv, "--output", tmp_path / "o.jsonl",
                       *flags)
    assert code == 2 and message in err


def test_empty_file_is_a_setup_error(cli, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    code, _, err = cli("prep", "extract", "csv", "--input", path, "--output", tmp_path / "o.jsonl",
                       "--text-column", "body")
    assert code == 2 and "no header row" in err


def test_undecodable_bytes_in_a_ragged_row_are_an_error_not_a_crash(cli, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(b'title,body\nok,fine text\nx,\xff bad,extra\n"q","\xed\xa0\x80 surrogate bytes"\n')
    out = tmp_path / "o.jsonl"
    code, _, err = cli("prep", "extract", "csv", "--input", src, "--output", out, "--text-column", "body",
                       "--quiet")
    assert code == 0 and "Traceback" not in err
    assert [r["text"] for r in read_jsonl(out)] == ["fine text"]
    rejected = read_jsonl(sidecar(out, ".rejected.jsonl"))
    assert [r["where"] for r in rejected] == [f"{src}:3", f"{src}:4"]
    assert "\\udcff" in rejected[0]["raw"] and "expected 2 fields" in rejected[0]["detail"]
