"""Extract the main text of HTML pages: one record per page, boilerplate left behind.

Reads a file, a folder (*.html and *.htm, recursively) or a glob, in sorted order, and
honours each page's charset (BOM, <meta charset>, then detection). Three extractors:

- ``auto`` (the default): trafilatura's choice of the main content; where trafilatura keeps
  nothing, or clearly less than the project's own rules, the rules' text (see choose.py).
- ``bs4``: the project's own rules only (BeautifulSoup + lxml): scripts, navigation, headers,
  footers, sidebars, forms and clutter blocks (cookie banners, newsletter boxes, share bars,
  related posts, comments, link lists) go; <main>, then the <article> or div named
  "post"/"entry" holding most of the text, is kept when the page marks one.
- ``trafilatura``: trafilatura only.

Every path lays text out alike: headings and paragraphs separated by a blank line, list
items as "- " lines, table rows as "a | b", and <pre> blocks character for character.

Each record is {"id": path relative to the input, "text": ..., "meta": {"source", "title",
"encoding", "extractor"}}; the stats count the pages each extractor produced. A page without
text is dropped with reason "empty" (the rejects file names the file); a file that cannot be
read or parsed is counted as an error.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Callable

from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.records import input_files
from prep.core.stage import Stage, options_of, progress

HTML_SUFFIXES = (".html", ".htm")


def load_bs4() -> Callable:
    # bs4: imported here to keep it off the CLI's start-up path
    from prep.extract.html.blocks import page_text

    return page_text


def load_choose(name: str):
    """prep.extract.html.choose, or a StageError when trafilatura is not installed."""
    try:
        import trafilatura  # noqa: F401  (optional package: checked here, before any file is read)
    except ImportError:
        raise StageError(f"--extractor {name} needs the trafilatura package, which is not installed: "
                         "pip install trafilatura; --extractor bs4 needs nothing more") from None
    # trafilatura: imported here to keep it off the CLI's start-up path
    from prep.extract.html import choose

    return choose


def load_trafilatura() -> Callable:
    return load_choose("trafilatura").trafilatura_extract


def load_auto() -> Callable:
    return load_choose("auto (the default)").auto_extract


# Extractor name -> loader returning `bytes -> Page`. Loaders import lazily, so a missing
# package is reported before any file is read, and `--help` stays fast.
EXTRACTORS: dict[str, Callable[[], Callable]] = {"auto": load_auto, "bs4": load_bs4,
                                                 "trafilatura": load_trafilatura}


def parse_errors() -> tuple[type[BaseException], ...]:
    """What a malformed page may raise from the parsers: an error for that file, not a crash."""
    # bs4, lxml: imported here to keep them off the CLI's start-up path
    from bs4 import ParserRejectedMarkup
    from lxml.etree import LxmlError

    return (OSError, ValueError, LookupError, RecursionError, ParserRejectedMarkup, LxmlError)


def id_base(spec: str, files: list[Path]) -> Path:
    """The folder ids are relative to: the input folder, a file's folder, a glob's common root."""
    path = Path(spec)
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    return Path(os.path.commonpath([str(f.parent) for f in files]))


def add_arguments(parser) -> None:
    add_common(parser, input_help="HTML file, folder (*.html, *.htm, searched recursively) or glob",
               output_help="output JSONL file; OUT.stats.json and OUT.rejected.jsonl go beside it")
    parser.add_argument("--extractor", choices=sorted(EXTRACTORS), default="auto",
                        help="auto: trafilatura, falling back to this project's rules where it keeps "
                        "nothing or clearly less than they do; bs4: BeautifulSoup + lxml with this "
                        "project's boilerplate rules only; trafilatura: the trafilatura library only")


def run(args) -> int:
    extract = EXTRACTORS[args.extractor]()
    files = input_files(args.input, HTML_SUFFIXES)
    base = id_base(args.input, files)
    errors = parse_errors()
    encodings: Counter = Counter()
    producers: Counter = Counter()
    with Stage("extract-html", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        for path in progress(files, args.quiet, desc="extract html", unit="page"):
            stage.read()
            try:
                page = extract(path.read_bytes())
            except errors as exc:
                stage.error(str(path), f"cannot read or parse: {type(exc).__name__}: {exc}")
                continue
            encodings[page.encoding] += 1
            record = {"id": path.relative_to(base).as_posix(), "text": page.text,
                      "meta": {"source": str(path), "title": page.title, "encoding": page.encoding,
                               "extractor": page.extractor}}
            if page.text.strip():
                producers[page.extractor] += 1
                stage.keep(record)
                continue
            detail = f"no text left after removing markup and boilerplate ({args.extractor} extractor)"
            stage.drop(record, "empty", detail, where=str(path))
            if not args.quiet:
                print(f"extract html: dropped {path}: {detail}", file=sys.stderr)
        stage.extra["encodings"] = dict(sorted(encodings.items()))
        stage.extra["extractors"] = dict(sorted(producers.items()))
    if not args.quiet:
        print(f"extract html: {stage.read_count} pages; {stage.kept} kept "
              f"({', '.join(f'{n} by {name}' for name, n in sorted(producers.items())) or 'none'}), "
              f"{sum(stage.dropped.values())} dropped, {stage.errors} errors -> {args.output}")
    return 0
