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

Pages are independent, and extracting them is the cost (trafilatura and the rules, 20-150 ms a
page): --workers N (or --engine ray) reads and extracts them in N processes, a few pages at a
time, and the output, the rejects and the stats are the same on every engine. A worker reads
each page by its path, so on a cluster of several machines the pages must be on storage that
every node mounts at that path.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Callable

from prep.core.engine import ERROR, run_work
from prep.core.errors import StageError
from prep.core.flags import add_common, add_engine
from prep.core.records import Read, input_files
from prep.core.stage import Stage, options_of
from prep.core.work import Work
from prep.extract.html.charset import NotText

HTML_SUFFIXES = (".html", ".htm")
# Pages over this are refused unparsed. The largest real page of tests/data/html is 0.4 MB;
# trafilatura's own downloader stops at 20,000,000 bytes. lxml and bs4 hold a page as a tree
# of objects some 10 to 20 times its size, so 20 MB of markup is a few hundred MB of memory.
MAX_PAGE_BYTES = 20_000_000
CHARSET_DECISIONS = ("charset_detected", "charset_fallback", "charset_overridden")
# Pages per batch handed to a worker: a page costs 20-150 ms of trafilatura and the rules, so
# a batch is 0.1-1 s of work against ~1 ms of hand-over, and a folder of a few dozen pages still
# spreads over every worker.
PAGES_PER_BATCH = 4


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
    add_engine(parser)


def read_page(path: Path, limit: int) -> bytes | int:
    """The file's bytes, or its size when it is over ``limit`` (it is not read past the limit)."""
    size = path.stat().st_size
    if size > limit:
        return size
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)   # a file that grew since stat() is still cut at the limit
    return len(data) if len(data) > limit else data


def judge(settings: dict):
    """The per-page work, in whichever process runs it (prep.core.engine): read, parse and
    extract each page of a batch; the charsets, extractors and charset decisions counted."""
    extract = EXTRACTORS[settings["extractor"]]()
    errors = parse_errors()

    def run_batch(batch: list[dict]):
        counts = {"encodings": Counter(), "extractors": Counter(), "charset_decisions": Counter()}
        return [page_verdict(record, extract, errors, settings, counts) for record in batch], counts
    return run_batch


def page_verdict(record: dict, extract: Callable, errors: tuple, settings: dict, counts: dict) -> tuple:
    """``(record, reason, detail)`` for one page: kept (reason None), dropped, or ERROR."""
    path = Path(record["meta"]["source"])
    try:
        data = read_page(path, settings["max_page_bytes"])
        if isinstance(data, int):
            record["meta"]["bytes"] = data
            return record, "too_large", f"{data} bytes, over --max-page-bytes {settings['max_page_bytes']}"
        page = extract(data)
    except NotText as exc:
        return record, ERROR, str(exc)
    except errors as exc:
        return record, ERROR, f"cannot read or parse: {type(exc).__name__}: {exc}"
    counts["encodings"][page.encoding] += 1
    if page.decision:
        counts["charset_decisions"][page.decision] += 1
    record = {"id": record["id"], "text": page.text, "meta": page_meta(path, page)}
    if not page.text.strip():
        return record, "empty", f"no text left after removing markup and boilerplate ({settings['extractor']} extractor)"
    counts["extractors"][page.extractor] += 1
    return record, None, None


class PageStage(Stage):
    """A page dropped is never dropped silently: the rejects file, and a line on stderr."""

    def drop(self, record: dict, reason: str, detail: str | None = None, where: str | None = None) -> None:
        super().drop(record, reason, detail, where)
        if not self.quiet:
            print(f"extract html: dropped {where}: {detail}", file=sys.stderr)


def run(args) -> int:
    if args.max_page_bytes < 1:
        raise StageError(f"--max-page-bytes takes a positive number of bytes; got {args.max_page_bytes}")
    files = input_files(args.input, HTML_SUFFIXES)
    base = id_base(args.input, files)
    work = Work(judge, {"extractor": args.extractor, "max_page_bytes": args.max_page_bytes})
    # One item per page, its path alone: the page is read where it is extracted.
    pages = (Read({"id": path.relative_to(base).as_posix(), "meta": {"source": str(path)}}, str(path))
             for path in files)
    with PageStage("extract-html", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        run_work(stage, pages, work, args, desc="extract html", size=PAGES_PER_BATCH, check_types=False)
        found = {name: stage.extra.pop(name, {}) for name in ("encodings", "extractors", "charset_decisions")}
        found["charset_decisions"] = {**dict.fromkeys(CHARSET_DECISIONS, 0), **found["charset_decisions"]}
        stage.extra.update((name, dict(sorted(counted.items()))) for name, counted in found.items())
    if not args.quiet:
        producers = stage.extra["extractors"]
        print(f"extract html: {stage.read_count} pages; {stage.kept} kept "
              f"({', '.join(f'{n} by {name}' for name, n in producers.items()) or 'none'}), "
              f"{sum(stage.dropped.values())} dropped, {stage.errors} errors -> {args.output}")
    return 0


def page_meta(path: Path, page) -> dict:
    meta = {"source": str(path), "title": page.title, "encoding": page.encoding, "extractor": page.extractor}
    if page.declared and page.declared != page.encoding:
        meta["declared_encoding"] = page.declared   # the page's label was not followed (charset.py)
    return meta
