"""`prep clean` keeps code: indentation, tabs and the inside of code blocks pass through.

tests/data/code/ holds real records (see SOURCES.md there): CodeAlpaca-20k records whose
outputs are bare code (Python, C, Java, SQL, HTML; tabs, trailing spaces, aligned columns)
and ShareGPT replies that mix prose with fenced code.
"""
import ast
import json
import re
from pathlib import Path

from stage_outputs import outputs

from prep.clean import normalise

DATA = Path(__file__).parent / "data" / "code"
FIELDS = ("instruction", "input", "output")
FENCED = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```", re.S | re.M)
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def real_records() -> list[dict]:
    return [json.loads(line) for name in ("codealpaca.jsonl", "sharegpt_code.jsonl")
            for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def allowed(text: str) -> str:
    """What a field may become: LF line ends, no trailing spaces, no blank lines at its ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip(" \t") for line in lines).strip("\n")


def python_blocks(text: str) -> list[str]:
    return [body for lang, body in FENCED.findall(text) if lang in ("python", "py")]


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def test_real_code_records_pass_through_clean_unchanged(tmp_path, cli):
    records = real_records()
    assert len(records) >= 100
    src = tmp_path / "code.jsonl"
    with src.open("w", encoding="utf-8") as fh:
        for n, record in enumerate(records):
            if n % 2:   # every other record arrives with Windows line endings
                record = {k: v.replace("\n", "\r\n") if isinstance(v, str) else v for k, v in record.items()}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    out = tmp_path / "clean.jsonl"
    assert cli("prep", "clean", "--input", src, "--output", out, "--quiet")[0] == 0
    kept, rejected, stats = outputs(out)
    assert stats["read"] == len(records) and not rejected
    checked_blocks = 0
    for before, after in zip(records, kept):
        assert after["id"] == before["id"]
        for key in FIELDS:
            if key not in before:
                continue
            # The one prose change these records contain: zero-width spaces pasted into a prompt.
            assert after[key] == allowed(before[key]) or (
                INVISIBLE.search(before[key]) and after[key] == INVISIBLE.sub("", allowed(before[key])))
            for block_before, block_after in zip(python_blocks(before[key]), python_blocks(after[key])):
                if parses(block_before):
                    assert parses(block_after)
                    checked_blocks += 1
    assert checked_blocks >= 80


def test_codealpaca_python_outputs_still_parse_byte_for_byte():
    checked = 0
    for record in real_records():
        if record["id"].startswith("codealpaca:") and parses(record["output"]):
            assert normalise(record["output"]) == allowed(record["output"])
            assert parses(normalise(record["output"].replace("\n", "\r\n")))
            checked += 1
    assert checked >= 20


def test_indentation_tabs_and_aligned_columns_survive():
    yaml = "server:\n  host:    example.org\n  ports:\n    - 80\n    - 443\n"
    assert normalise(yaml) == yaml.rstrip("\n")
    poem = "Salt wind on white stone\n    one patient eye turns all night\n        ships count it and live"
    assert normalise(poem) == poem
    c_code = "int main() {\n\tint  width  = 3;   \n\treturn width;\n}"
    assert normalise(c_code) == c_code.replace("   \n", "\n")
    fenced = "Run this:\n\n```\nx  =  1\n\n\n\nprint( x )\n```\n\nIt  prints  1."
    assert normalise(fenced) == "Run this:\n\n```\nx  =  1\n\n\n\nprint( x )\n```\n\nIt prints 1."


def test_prose_next_to_code_is_still_tidied():
    text = "Use  `a  b`  here.\u00a0Then\u200b go.\n\n\n\nDone.  \n    indented  code  line"
    assert normalise(text) == "Use `a  b` here. Then go.\n\nDone.\n    indented  code  line"
    unclosed = "Start:\n```python\ndef f():\n    return  1\n\n\n"
    assert normalise(unclosed) == "Start:\n```python\ndef f():\n    return  1"
