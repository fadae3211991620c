"""Extract the main text of HTML pages: one record per page, boilerplate left behind.

Reads a file, a folder (*.html and *.htm, recursively) or a glob, in sorted order. The
default extractor parses with BeautifulSoup and lxml, drops scripts, navigation, headers,
footers, sidebars, forms and clutter blocks (cookie banners, newsletter boxes, share bars,
related posts, comments, breadcrumbs, link lists), keeps only the marked content when there
is some (<main>, then the <article> or div named "post"/"entry" holding most of its text),
keeps headings and paragraph breaks (list items as "- " lines, table rows as "a | b"), and
honours the page's charset (BOM, <meta charset>, then detection). `--extractor trafilatura`
hands the page to trafilatura instead (pip install trafilatura).

Each record is {"id": path relative to the input, "text": ..., "meta": {"source", "title",
"encoding"}}. A page without text is dropped with reason "empty"; a file that cannot be read
or parsed is counted as an error.
"""
from __future__ import annotations

import os
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Callable

from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.records import input_files
from prep.core.stage import Stage, options_of, progress

HTML_SUFFIXES = (".html", ".htm")


def load_bs4() -> Callable:
    from prep.extract.html.blocks import page_text

    return page_text


def load_trafilatura() -> Callable:
    try:
        import trafilatura
    except ImportError:
        raise StageError("--extractor trafilatura needs the trafilatura package, which is not "
                         "installed: pip install trafilatura (or the project's [web] extra); "
                         "--extractor bs4 needs nothing more") from None
    from prep.extract.html.blocks import Page, decode

    def extract(data: bytes) -> Page:
        markup, encoding = decode(data)
        document = trafilatura.bare_extraction(markup, include_comments=False, with_metadata=True)
        if document is None:
            return Page("", None, encoding)
        text, title = (unicodedata.normalize("NFC", s) if s else s for s in (document.text, document.title))
        return Page(text or "", title or None, encoding)

    return extract


# Extractor name -> loader returning `bytes -> Page`. Loaders import lazily, so a missing
# optional package is reported before any file is read, and `--help` stays fast.
EXTRACTORS: dict[str, Callable[[], Callable]] = {"bs4": load_bs4, "trafilatura": load_trafilatura}


def parse_errors() -> tuple[type[BaseException], ...]:
    """What a malformed page may raise from the parsers: an error for that file, not a crash."""
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
    parser.add_argument("--extractor", choices=sorted(EXTRACTORS), default="bs4",
                        help="bs4: BeautifulSoup + lxml with this project's boilerplate rules; "
                        "trafilatura: the trafilatura library (must be installed)")


def run(args) -> int:
    extract = EXTRACTORS[args.extractor]()
    files = input_files(args.input, HTML_SUFFIXES)
    base = id_base(args.input, files)
    errors = parse_errors()
    encodings: Counter = Counter()
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
                      "meta": {"source": str(path), "title": page.title, "encoding": page.encoding}}
            if page.text.strip():
                stage.keep(record)
            else:
                stage.drop(record, "empty", "no text left after removing markup and boilerplate",
                           where=str(path))
        stage.extra["encodings"] = dict(sorted(encodings.items()))
    if not args.quiet:
        print(f"extract html: {stage.read_count} pages; {stage.kept} kept, "
              f"{sum(stage.dropped.values())} dropped, {stage.errors} errors -> {args.output}")
    return 0
