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
"encoding", "extractor"}} (and "declared_encoding" where the page's label was not followed);
the stats count the pages each extractor produced and each charset decision (charset.py). A
page without text is dropped with reason "empty", a file over --max-page-bytes with reason
"too_large" (its size; it is never read whole or parsed); a binary file, or one that cannot be
read or parsed, is counted as an error. The rejects file names the file.
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
from prep.extract.html.charset import NotText

HTML_SUFFIXES = (".html", ".htm")
# Pages over this are refused unparsed. The largest real page of tests/data/html is 0.4 MB;
# trafilatura's own downloader stops at 20,000,000 bytes. lxml and bs4 hold a page as a tree
# of objects some 10 to 20 times its size, so 20 MB of markup is a few hundred MB of memory.
MAX_PAGE_BYTES = 20_000_000
CHARSET_DECISIONS = ("charset_detected", "charset_fallback", "charset_overridden")


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
    parser.add_argument("--max-page-bytes", "--max_page_bytes", dest="max_page_bytes", type=int,
                        default=MAX_PAGE_BYTES, help="a file over this many bytes is dropped as "
                        "too_large without being read or parsed (whatever the extractor)")


def read_page(path: Path, limit: int) -> bytes | int:
    """The file's bytes, or its size when it is over ``limit`` (it is not read past the limit)."""
    size = path.stat().st_size
    if size > limit:
        return size
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)   # a file that grew since stat() is still cut at the limit
    return len(data) if len(data) > limit else data


def run(args) -> int:
    if args.max_page_bytes < 1:
        raise StageError(f"--max-page-bytes takes a positive number of bytes; got {args.max_page_bytes}")
    extract = EXTRACTORS[args.extractor]()
    files = input_files(args.input, HTML_SUFFIXES)
    base = id_base(args.input, files)
    errors = parse_errors()
    encodings: Counter = Counter()
    producers: Counter = Counter()
    decisions: Counter = Counter(dict.fromkeys(CHARSET_DECISIONS, 0))
    with Stage("extract-html", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        for path in progress(files, args.quiet, desc="extract html", unit="page"):
            stage.read()
            record = {"id": path.relative_to(base).as_posix(), "meta": {"source": str(path)}}
            try:
                data = read_page(path, args.max_page_bytes)
                if isinstance(data, int):
                    record["meta"]["bytes"] = data
                    detail = f"{data} bytes, over --max-page-bytes {args.max_page_bytes}"
                    drop(stage, path, record, "too_large", detail, args.quiet)
                    continue
                page = extract(data)
            except NotText as exc:
                stage.error(str(path), str(exc))
                continue
            except errors as exc:
                stage.error(str(path), f"cannot read or parse: {type(exc).__name__}: {exc}")
                continue
            encodings[page.encoding] += 1
            if page.decision:
                decisions[page.decision] += 1
            record = {"id": record["id"], "text": page.text, "meta": page_meta(path, page)}
            if page.text.strip():
                producers[page.extractor] += 1
                stage.keep(record)
                continue
            detail = f"no text left after removing markup and boilerplate ({args.extractor} extractor)"
            drop(stage, path, record, "empty", detail, args.quiet)
        stage.extra["encodings"] = dict(sorted(encodings.items()))
        stage.extra["extractors"] = dict(sorted(producers.items()))
        stage.extra["charset_decisions"] = dict(sorted(decisions.items()))
    if not args.quiet:
        print(f"extract html: {stage.read_count} pages; {stage.kept} kept "
              f"({', '.join(f'{n} by {name}' for name, n in sorted(producers.items())) or 'none'}), "
              f"{sum(stage.dropped.values())} dropped, {stage.errors} errors -> {args.output}")
    return 0


def page_meta(path: Path, page) -> dict:
    meta = {"source": str(path), "title": page.title, "encoding": page.encoding, "extractor": page.extractor}
    if page.declared and page.declared != page.encoding:
        meta["declared_encoding"] = page.declared   # the page's label was not followed (charset.py)
    return meta


def drop(stage: Stage, path: Path, record: dict, reason: str, detail: str, quiet: bool) -> None:
    """A page dropped is never dropped silently: the rejects file, and a line on stderr."""
    stage.drop(record, reason, detail, where=str(path))
    if not quiet:
        print(f"extract html: dropped {path}: {detail}", file=sys.stderr)
