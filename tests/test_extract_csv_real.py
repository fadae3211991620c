"""`tunesmith prep extract csv` on real exports (tests/data/csv, see SOURCES.md there).

Every cell the stage copies is checked against what Python's csv module reads from the same
bytes: --keep-columns copies cells untouched, so all columns of every sample make a byte-for-byte
round trip; the text fields are the same cells with only the documented trimming.
Variants that Excel and database tools write (UTF-16, BOM + CRLF + sep= line, old Mac CR line
ends) are made here from the real samples, byte for byte the same cells.
"""
from __future__ import annotations

import codecs
import csv
import unicodedata
from pathlib import Path

import pytest
from stage_outputs import outputs

DATA = Path(__file__).resolve().parent / "data" / "csv"
PROMPTS = DATA / "awesome_prompts_excerpt.csv"
NORTHWIND = DATA / "northwind_employees.csv"
SEMICOLON = DATA / "tweets_semicolon.csv"
TAB = DATA / "tweets_tab.tsv"
CHINESE = DATA / "country_zh_CN.csv"


def csv_rows(path: Path, delimiter: str, encoding: str = "utf-8-sig") -> list[list[str]]:
    """The file as the csv module reads it: header first, blank lines left out."""
    with open(path, newline="", encoding=encoding) as handle:
        return [row for row in csv.reader(handle, delimiter=delimiter, strict=True) if row]


def trimmed(value: str) -> str:
    """The documented cell rule, written out independently: line ends, NFC, outer blank space."""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).rstrip()
    lines = value.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines) if len(lines) > 1 else value.strip()


def extract(cli, tmp_path, source, *flags, name="out.jsonl"):
    out = tmp_path / name
    code, stdout, err = cli("prep", "extract", "csv", "--input", source, "--output", out, "--quiet", *flags)
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("path, delimiter, text_column", [
    (PROMPTS, ",", "prompt"), (SEMICOLON, ";", "from"), (TAB, "\t", "name"), (CHINESE, ",", "value"),
])
def test_every_cell_round_trips_with_the_detected_dialect(cli, tmp_path, path, delimiter, text_column):
    header, *rows = csv_rows(path, delimiter)
    code, out, err = extract(cli, tmp_path, path, "--text-column", text_column, "--null-values", "",
                             "--keep-columns", ",".join(header))
    assert code == 0, err
    records, rejected, stats = outputs(out)
    assert (stats["read"], stats["kept"], stats["errors"], rejected) == (len(rows), len(rows), 0, [])
    assert stats["dialects"][str(path)]["delimiter"] == delimiter
    for record, row in zip(records, rows):
        assert {k: record["meta"][k] for k in header} == dict(zip(header, row))   # byte for byte
        assert record["text"] == trimmed(row[header.index(text_column)])


def test_prompt_cells_keep_quotes_indentation_and_inner_blank_lines(cli, tmp_path):
    code, out, err = extract(cli, tmp_path, PROMPTS, "--input-column", "act", "--output-column", "prompt",
                             "--label-column", "type", "--keep-columns", "contributor")
    assert code == 0, err
    records = {r["input"]: r for r in outputs(out)[0]}
    assert len(records) == 10
    json_prompt = records["Tarih-olay- Görsel oluşturma"]["output"]
    assert json_prompt.startswith('{\n  "meta": {\n    "model": "nano-banana-pro",')
    assert '\\nTarih: ${Date: YYYY-MM-DD}\\n\\nÖnce' in json_prompt          # literal backslash-n kept
    assert records["Composer"]["output"].endswith('"I have written a poem named Hayalet Sevgilim" and need '
                                                  'music to go with it."""')
    assert "  - Secondary: **Chat conversation with the pet**\n\n---" in records["Gemi-Gotchi"]["output"]
    assert '  - "No sleep 😠"' in records["Gemi-Gotchi"]["output"]
    assert "2) Create a day-by-day itinerary with:\n   - Morning / Afternoon / Evening" in \
        records["Travel Planner Prompt"]["output"]
    assert records["Temitope"]["output"] == "Always act like one fill with wisdom and be extraordinary"
    assert records["Job Interviewer"]["meta"]["contributor"] == "f,iltekin"
    assert records["Professional Badge Photo, Ready to Use"]["label"] == "IMAGE"


def test_northwind_export_rows_with_unquoted_commas_are_errors_with_their_lines(cli, tmp_path):
    """The export wrote notes with commas unquoted: those rows cannot be split and are rejected."""
    header, *rows = csv_rows(NORTHWIND, ",")
    code, out, err = extract(cli, tmp_path, NORTHWIND, "--text-column", "notes", "--id-column", "employeeID",
                             "--keep-columns", ",".join(header), "--null-values", "")
    assert code == 0, err
    records, rejected, stats = outputs(out)
    assert [(r["where"], r["detail"]) for r in rejected] == [
        (f"{NORTHWIND}:{line}", f"expected 18 fields, found {found}")
        for line, found in ((3, 19), (6, 21), (7, 22), (8, 20))]
    good = [row for row in rows if len(row) == len(header)]
    assert [r["id"] for r in records] == [row[0] for row in good] == ["1", "3", "4", "8", "9"]
    for record, row in zip(records, good):
        assert {k: record["meta"][k] for k in header} == dict(zip(header, row))
    assert (stats["read"], stats["kept"], stats["errors"]) == (9, 5, 4)


def test_null_markers_of_a_database_export_count_as_empty(cli, tmp_path):
    """region is NULL for the London staff: it must not become the text "NULL" or "(NULL)"."""
    code, out, err = extract(cli, tmp_path, NORTHWIND, "--text-column", "region", "--id-column", "employeeID")
    assert code == 0, err
    records, rejected, stats = outputs(out)
    assert [(r["id"], r["text"]) for r in records] == [("1", "WA"), ("3", "WA"), ("4", "WA"), ("8", "WA")]
    [null_row] = [r for r in rejected if r["reason"] == "empty"]
    assert null_row["where"] == f"{NORTHWIND}:10" and stats["dropped"] == {"empty": 1}
    code, out, err = extract(cli, tmp_path, NORTHWIND, "--template", "{firstName} {lastName} ({region})",
                             name="template.jsonl")
    assert code == 0, err
    assert [r["text"] for r in outputs(out)[0]][-1] == "Anne Dodsworth ()"


def test_a_folder_of_semicolon_and_tab_exports_reads_each_in_its_own_dialect(cli, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for path in (SEMICOLON, TAB):
        (folder / path.name).write_bytes(path.read_bytes())
    code, out, err = extract(cli, tmp_path, folder, "--text-column", "hashtags", "--label-column", "name")
    assert code == 0, err
    records, _, stats = outputs(out)
    assert (stats["read"], stats["kept"], stats["dropped"]) == (150, 32, {"empty": 118})
    assert {v["delimiter"] for v in stats["dialects"].values()} == {";", "\t"}
    texts = [r["text"] for r in records]
    assert texts[:16] == texts[16:] and "wolkenfälle;wasser;wasserfall" in texts


def test_excel_unicode_text_export_is_utf16_found_by_its_byte_order_mark(cli, tmp_path):
    # Excel's "Unicode text" export: UTF-16-LE with a byte-order mark, tabs, CRLF.
    text = TAB.read_text(encoding="utf-8")
    path = tmp_path / "tweets.txt.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le"))
    header, *rows = csv_rows(path, "\t", encoding="utf-16")
    code, out, err = extract(cli, tmp_path, path, "--text-column", "from", "--keep-columns", ",".join(header))
    assert code == 0, err
    records, _, stats = outputs(out)
    assert stats["dialects"][str(path)] == {"delimiter": "\t", "encoding": "utf-16", "found": "detected",
                                            "bom": True}
    assert [[r["meta"][k] for k in header] for r in records] == rows
    assert records[11]["text"] == "Archipelago-Universität"


def test_excel_sep_line_bom_and_crlf(cli, tmp_path):
    # Excel (European locale) "CSV UTF-8": a byte-order mark, CRLF, and a sep=; hint some tools add.
    path = tmp_path / "tweets.csv"
    path.write_bytes(codecs.BOM_UTF8 + ("sep=;\n" + SEMICOLON.read_text(encoding="utf-8"))
                     .replace("\n", "\r\n").encode("utf-8"))
    header, *rows = csv_rows(SEMICOLON, ";")
    code, out, err = extract(cli, tmp_path, path, "--text-column", "hashtags", "--keep-columns", ",".join(header))
    assert code == 0, err
    records, rejected, stats = outputs(out)
    assert stats["dialects"][str(path)]["found"] == "sep= line"
    assert [[r["meta"][k] for k in header] for r in records] == [row for row in rows if row[-1]]
    assert records[0]["meta"]["line"] == 4 and rejected[0]["where"] == f"{path}:3"   # the sep= line counts


def test_old_mac_line_ends_inside_cells_become_newlines(cli, tmp_path):
    # Excel's "CSV (Macintosh)": every line end a lone CR, inside quoted cells too.
    path = tmp_path / "prompts_mac.csv"
    path.write_bytes(PROMPTS.read_bytes().replace(b"\n", b"\r"))
    code, out, err = extract(cli, tmp_path, path, "--text-column", "prompt")
    assert code == 0, err
    mac = [r["text"] for r in outputs(out)[0]]
    code, out, err = extract(cli, tmp_path, PROMPTS, "--text-column", "prompt", name="unix.jsonl")
    assert mac == [r["text"] for r in outputs(out)[0]] and not any("\r" in t for t in mac)


def test_utf16_file_cut_inside_a_character_is_an_error_not_a_traceback(cli, tmp_path):
    text = TAB.read_text(encoding="utf-8") * 40     # past the dialect sample, so rows() meets the cut
    path = tmp_path / "cut.tsv"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le") + b"\x41")
    code, out, err = extract(cli, tmp_path, path, "--text-column", "name", "--encoding", "utf-16",
                             "--delimiter", "tab")
    assert code == 0, err
    records, rejected, stats = outputs(out)
    assert rejected[-1]["detail"] == "not utf-16 text from here on (truncated data)"
    assert stats["errors"] >= 1 and len(records) > 2000


def test_a_header_in_another_encoding_stops_with_a_printable_message(cli, tmp_path):
    # The semicolon sample saved as cp1252 ("ANSI", as the source readme says one copy was).
    path = tmp_path / "ansi.csv"
    path.write_bytes(SEMICOLON.read_text(encoding="utf-8").replace("hashtags", "Schlagwörter")
                     .encode("cp1252"))
    code, _, err = extract(cli, tmp_path, path, "--text-column", "Schlagwörter")
    assert code == 2 and "no column 'Schlagwörter'" in err and "Schlagw\\xf6rter" in err
    code, out, err = extract(cli, tmp_path, path, "--text-column", "Schlagwörter", "--encoding", "cp1252",
                             name="ansi.jsonl")
    assert code == 0, err
    assert "sternzerstörer;werft" in [r["text"] for r in outputs(out)[0]]
