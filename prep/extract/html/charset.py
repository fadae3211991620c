"""Bytes of a page to text: its charset checked against the bytes, and binary files turned away.

The order is a byte-order mark, then the page's own <meta charset>, then UTF-8, then a guess;
two checks catch labels that lie. A page declared in a single-byte or legacy charset whose
bytes are also valid UTF-8 with multi-byte sequences is read as UTF-8 ("charset_overridden"):
text in another charset almost never forms valid UTF-8 sequences by chance, while UTF-8 pages
saved under a copied template's windows-1251 or latin-1 label are common, and reading them as
labelled turns every non-ASCII letter into two or three wrong ones without a word. A page whose
declared charset does not decode its bytes is read as UTF-8 or the guessed charset
("charset_fallback"); a page that declares nothing and is not UTF-8 is guessed
("charset_detected"). Each decision is reported, so the stage can count it.

A file that is not text at all (a binary or compressed file named .html) is refused with a
reason instead of becoming a record of noise: NUL bytes near its start, or, once decoded,
a share of control characters and undecodable bytes that no page of text has.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# The charset of a page is declared in its first bytes; browsers look at the first 1,024,
# a little more costs nothing and catches pages with a long comment before <meta>.
CHARSET_SCAN_BYTES = 4096
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# What browsers do with these labels (WHATWG Encoding): latin-1 and ASCII pages are read as
# windows-1252, a superset, so curly quotes and the euro sign in 0x80-0x9F come out right;
# a UTF-16 label on a page that is ASCII-compatible bytes cannot be true and means UTF-8.
LABEL_MEANS = {"iso8859-1": "cp1252", "ascii": "cp1252", "utf-16": "utf-8",
               "utf-16-le": "utf-8", "utf-16-be": "utf-8"}
# Characters no page of text holds in number: C0 controls other than tab, newline, form feed
# and carriage return, DEL, C1 controls, and U+FFFD (bytes the charset could not decode).
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
# A decoded file is binary when over this share of its characters are NOT_TEXT, and at least
# BINARY_MIN_CHARS of them (a stray control in a short page is no proof). Random bytes decode
# to 11% (single-byte charsets: 28 of 255 byte values are controls) to 50% (UTF-8 with
# replacement); the pages of tests/data/html and data/raw/html hold at most 0.002%.
BINARY_SHARE = 0.05
BINARY_MIN_CHARS = 4


class NotText(ValueError):
    """A file that is not a page of text; the message says why (for the rejects file)."""


@dataclass
class Decoded:
    text: str
    encoding: str
    decision: str | None = None     # charset_overridden | charset_fallback | charset_detected
    declared: str | None = None     # the <meta charset> label's codec, when the page has one


def codec_name(label: bytes | str) -> str | None:
    """The Python codec for a charset label, as a browser would read it; None if unknown."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return LABEL_MEANS.get(name, name)


def utf8_text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode(data: bytes) -> Decoded:
    """The page's text and charset, with the decision taken when the label and bytes disagree.

    Raises NotText for a file that is not text (see check_text).
    """
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return check_text(Decoded(data[len(bom):].decode(encoding, "replace"), encoding))
    if b"\x00" in data[:CHARSET_SCAN_BYTES]:
        raise NotText("binary data (NUL bytes), not an HTML page")
    found = META_CHARSET.search(data, 0, CHARSET_SCAN_BYTES)
    declared = codec_name(found.group(1)) if found else None
    if declared is not None and declared != "utf-8":
        try:
            text = data.decode(declared)
        except UnicodeDecodeError:
            pass
        else:
            as_utf8 = None if data.isascii() else utf8_text(data)
            if as_utf8 is None:
                return check_text(Decoded(text, declared, None, declared))
            return check_text(Decoded(as_utf8, "utf-8", "charset_overridden", declared))
    # Here the page declares UTF-8, nothing, or a charset that did not decode its bytes.
    failed = declared is not None and declared != "utf-8"
    as_utf8 = utf8_text(data)
    if as_utf8 is not None:
        return check_text(Decoded(as_utf8, "utf-8", "charset_fallback" if failed else None, declared))
    text, encoding = guess(data)
    decision = "charset_fallback" if declared is not None else "charset_detected"
    return check_text(Decoded(text, encoding, decision, declared))


def guess(data: bytes) -> tuple[str, str]:
    """bs4's UnicodeDammit (its detectors, then windows-1252), which never fails."""
    # bs4: imported here to keep it off the CLI's start-up path (the stage imports NotText)
    from bs4 import UnicodeDammit

    # windows-1252 is not offered up front: it decodes every byte, so UnicodeDammit would take it
    # before asking a detector, and a Turkish, Czech or Russian page without a label would come
    # out as Latin mojibake ("yapýlan" for "yapılan"). It stays UnicodeDammit's last resort.
    dammit = UnicodeDammit(data, ["utf-8"], is_html=True)
    if dammit.unicode_markup is None:
        return data.decode("cp1252", "replace"), "cp1252"
    return dammit.unicode_markup, codec_name(dammit.original_encoding or "cp1252") or "cp1252"


def check_text(decoded: Decoded) -> Decoded:
    """The decoded page, or NotText when too many of its characters are controls or undecodable."""
    text = decoded.text
    bad = len(NOT_TEXT.findall(text))
    if bad >= BINARY_MIN_CHARS and bad > BINARY_SHARE * len(text):
        raise NotText(f"binary data ({bad} of {len(text)} characters are control characters or "
                      f"undecodable bytes as {decoded.encoding}), not an HTML page")
    return decoded
