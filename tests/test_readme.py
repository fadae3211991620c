"""The README shows the set-up commands and documents every command and flag there is."""
from pathlib import Path

from readme_reference import current, render

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_shows_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def test_reference_matches_the_parsers():
    text = README.read_text(encoding="utf-8")
    assert current(text) == render(), (
        "README.md's command reference is out of date: run `python tests/readme_reference.py --write`")
