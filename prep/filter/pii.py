"""Find and mask personal data and secrets in text.

Kinds (``KINDS``), in the order they win when two hits overlap: secret (API tokens and keys of
a documented shape with a strong prefix, PEM private-key blocks), email (on a known top-level
domain), card_number (known issuer prefix and length, Luhn valid), ip_address (public IPv4 and
IPv6 hosts), phone (written as a phone number, valid for libphonenumber: `phonenumbers`).
Not hits, because they name nobody and masking them would change what a code sample teaches:
addresses on the RFC 2606 example domains, ssh remotes ``git@host``; private, loopback, link-local,
shared, multicast, reserved and documentation IP ranges (RFC 1918, 5737, 3849), network (.0) and
broadcast (.255) addresses, public DNS resolvers, dotted numbers that read as versions; phone
numbers set aside for fiction. Secrets are hits even when they are documented samples: a key's
form cannot tell a sample from a live key, and a placeholder never changes what a snippet teaches.
``mask`` replaces each hit's span, and nothing else, with its kind's placeholder (``PLACEHOLDERS``:
``<SECRET>``, ``<EMAIL>``, ``<CARD_NUMBER>``, ``<IP_ADDRESS>``, ``<PHONE>``).
"""
from __future__ import annotations

import bisect
import ipaddress
import re
from collections import Counter
from typing import Iterator, NamedTuple

from prep.core.errors import StageError

KINDS = ("secret", "email", "card_number", "ip_address", "phone")
PLACEHOLDERS = {kind: f"<{kind.upper()}>" for kind in KINDS}
PHONENUMBERS_PIN = "phonenumbers==9.0.43"


class Hit(NamedTuple):
    kind: str
    start: int
    end: int
    detail: str  # which secret, TLD, card issuer, IP version or phone region


def _token(body: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){body}(?![\w-])")


# name, substrings one of which must occur (a cheap precheck), pattern (group 1, where there
# is one, is the span to mask). Left out: shapes without a strong prefix (AWS secret keys
# outside an `aws_secret_access_key = ...` line, Azure keys, "password=" values, high-entropy
# strings), which hashes, UUIDs and base64 data share; Stripe publishable keys (pk_, public by
# design); Twilio and other account ids (not secret).
_SECRETS = [
    ("private_key_block", ("PRIVATE KEY",), re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                                                        r".{0,16000}?-----END ([A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", re.S)),
    ("aws_access_key", ("AKIA", "ASIA"), _token(r"(?:AKIA|ASIA)[A-Z0-9]{16}")),
    ("aws_secret_key", ("secret", "Secret", "SECRET"), re.compile(
        r"(?i:aws_?secret_?(?:access_?)?key|secretaccesskey)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")),
    ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     _token(r"(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{82})")),
    ("gitlab_token", ("glpat-",), _token(r"glpat-[\w-]{20}")),
    ("slack_token", ("xox",), _token(r"xox[abposr]-(?:[0-9]+-){1,3}[A-Za-z0-9-]{8,}")),
    ("slack_webhook", ("hooks.slack.com",), _token(r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}")),
    ("stripe_key", ("k_live_", "k_test_"), _token(r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,}")),
    ("google_api_key", ("AIza",), _token(r"AIza[\w-]{35}")),
    # Every OpenAI key holds "T3BlbkFJ" (base64 of "OpenAI"); 48 bare characters is the old form.
    ("openai_key", ("sk-",), _token(r"sk-(?:(?:proj|svcacct|admin)-)?(?:[\w-]{16,}T3BlbkFJ[\w-]{16,}|[A-Za-z0-9]{48})")),
    ("anthropic_key", ("sk-ant-",), _token(r"sk-ant-(?:api|admin)\d\d-[\w-]{80,}")),
    ("huggingface_token", ("hf_",), _token(r"hf_[A-Za-z0-9]{34}")),
    ("npm_token", ("npm_",), _token(r"npm_[A-Za-z0-9]{36}")),
    ("sendgrid_key", ("SG.",), _token(r"SG\.[\w-]{22}\.[\w-]{43}")),
    # A signed JSON Web Token: header and payload are base64 JSON, so both start "eyJ".
    ("jwt", ("eyJ",), _token(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}")),
]
# A key block counts only when its body holds key material (not "..." or "<your key here>").
_KEY_BODY = re.compile(r"[A-Za-z0-9+/]{32}")


def _secrets(text: str) -> Iterator[Hit]:
    for name, needles, pattern in _SECRETS:
        if any(n in text for n in needles):
            for m in pattern.finditer(text):
                if name != "private_key_block" or _KEY_BODY.search(m.group().replace("\\n", "")):
                    g = 1 if name == "aws_secret_key" else 0
                    yield Hit("secret", m.start(g), m.end(g), name)


# Top-level domains: every country code (first letter, then the second letters in use) and the
# generic ones common in addresses. A list, not "any letters", because `x@self.weights` (a
# matrix product) and `logo@2x.png` (a retina image) have the shape of an address too.
_CC = ("a:cdefgilmoqrstuwxz b:abdefghijmnorstwyz c:acdfghiklmnoruvwxyz d:ejkmoz e:cegrstu f:ijkmor "
       "g:adefghilmnpqrstuwy h:kmnrtu i:delmnoqrst j:emop k:eghimnprwyz l:abcikrstuvy m:acdeghklmnopqrstuvwxyz "
       "n:acefgilopruz o:m p:aefghklmnrstwy q:a r:eosuw s:abcdeghiklmnorstuvxyz t:cdfghjklmnortvwz u:agksyz "
       "v:aceginu w:fs y:et z:amw")
_TLDS = frozenset({first + second for part in _CC.split() for first, seconds in [part.split(":")]
                   for second in seconds} | set("""
com net org edu gov mil int info biz name pro mobi aero coop museum jobs travel asia tel post app dev xyz online site
tech store blog cloud email live news shop top club space website world life today art design agency studio digital
network solutions systems company center media group global team zone works page ltd gmbh law academy consulting
finance legal health care family city london berlin nyc paris tokyo wien swiss scot software ninja guru rocks codes
click link wiki one fun icu vip work tools services support expert science social university education
institute foundation community partners marketing money bank insurance clinic cafe market games video music press""".split()))
# RFC 2606 example domains; the reserved .test, .example, .invalid and .localhost are not in _TLDS.
_RESERVED = (".example.com", ".example.net", ".example.org")
_EMAIL = re.compile(r"(?<![\w.%+-])([A-Za-z0-9][\w.%+-]{0,63})@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-]|\.[A-Za-z0-9])", re.A)


def _emails(text: str) -> Iterator[Hit]:
    for m in _EMAIL.finditer(text) if "@" in text else ():
        domain, tld = m.group(2).lower(), m.group(3).lower()
        if ("." + domain).endswith(_RESERVED) or tld not in _TLDS:
            continue
        if m.group(1) != "git" and text[m.end():m.end() + 1] not in ("(", "["):  # ssh remote; `x@w.to(device)`
            yield Hit("email", m.start(), m.end(), tld)


# Issuer prefix ranges (inclusive, compared on the first len(low) digits) and card lengths.
# Maestro's wide 50/56-69 range is left out: too many other numbers fall in it.
_LONG = (16, 17, 18, 19)
_ISSUERS = [("visa", "4", "4", (13, 16, 19)), ("mastercard", "51", "55", (16,)), ("mastercard", "2221", "2720", (16,)),
            ("amex", "34", "34", (15,)), ("amex", "37", "37", (15,)), ("discover", "6011", "6011", _LONG),
            ("discover", "644", "649", _LONG), ("discover", "65", "65", _LONG), ("jcb", "3528", "3589", _LONG),
            ("diners", "300", "305", (14, 15) + _LONG), ("diners", "36", "36", (14, 15) + _LONG),
            ("diners", "38", "39", _LONG), ("unionpay", "62", "62", _LONG), ("mir", "2200", "2204", _LONG)]
# Groupings printed on cards and asked for in forms: 4-4-4-4 (and longer), Amex 4-6-5, Diners 4-6-4.
_GROUPS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1)}
# Not inside a longer token: ids in URLs and attributes (`ca-pub-4760087305591666`, `?id=...`).
_CARD = re.compile(r"(?<![\w.,+/=#:-])\d(?:[ -]?\d){12,18}(?![\w]|[.,-]\d)")


def _luhn(digits: str) -> bool:
    doubled = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit * 2 with its two digits added
    return sum(int(d) if i % 2 == 0 else doubled[int(d)] for i, d in enumerate(reversed(digits))) % 10 == 0


def _cards(text: str) -> Iterator[Hit]:
    for m in _CARD.finditer(text):
        raw = m.group()
        groups = tuple(len(g) for g in re.split(r"[ -]", raw))
        if len(groups) > 1 and (groups not in _GROUPS or (" " in raw and "-" in raw)):
            continue  # grouped some other way (dates, ids, lists of numbers) or mixed separators
        digits = raw.replace(" ", "").replace("-", "")
        issuer = next((name for name, low, high, lengths in _ISSUERS
                       if len(digits) in lengths and low <= digits[:len(low)] <= high), None)
        if issuer and _luhn(digits):
            yield Hit("card_number", m.start(), m.end(), issuer)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not inside a longer dotted run (OIDs, `1.0.0.127.in-addr.arpa`) nor before a suffix (`2.6.25.5-smp`).
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.[\w-]|-[A-Za-z])")
# IPv6 in global unicast space (2000::/3): the first group is four hex digits starting 2 or 3,
# which C++ and Rust paths (`std::vec`, `abc::def`) and clock times never are.
_IPV6 = re.compile(r"(?<![\w:.])[23][0-9A-Fa-f]{3}:[0-9A-Fa-f:]{2,35}[0-9A-Fa-f](?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:version|ver\.?|release|build|firmware|rev\.?|[=<>~]=)\s*[:=]?\s*[\"']?$")
# Public resolvers: service addresses that networking tutorials are full of, not people.
_RESOLVERS = frozenset("""8.8.8.8 8.8.4.4 1.1.1.1 1.0.0.1 9.9.9.9 149.112.112.112 208.67.222.222 208.67.220.220
2001:4860:4860::8888 2001:4860:4860::8844 2606:4700:4700::1111 2606:4700:4700::1001""".split())


def _ips(text: str) -> Iterator[Hit]:
    for m in _IPV4.finditer(text) if text.count(".") >= 3 else ():
        ip, octets = ipaddress.IPv4Address(m.group()), m.group().split(".")
        if not ip.is_global or ip.is_multicast or octets[3] in ("0", "255") or m.group() in _RESOLVERS:
            continue
        # Every part under 20 reads as a version (2.2.7.1, ArubaOS 8.10.0.8): (20/256)^4 of addresses.
        if any(int(o) >= 20 for o in octets) and not _VERSION_BEFORE.search(text, max(0, m.start() - 24), m.start()):
            yield Hit("ip_address", m.start(), m.end(), "ipv4")
    for m in _IPV6.finditer(text) if "::" in text or text.count(":") >= 7 else ():
        try:
            ip = ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        if ip.is_global and not ip.is_multicast and str(ip) not in _RESOLVERS:
            yield Hit("ip_address", m.start(), m.end(), "ipv6")


# Digits in the usual phone groupings: an optional "+" and country code, groups split by one
# space, dash or dot, an area code in parentheses, a "(0)" trunk digit; not after "12:" (times).
_PHONE = re.compile(r"(?<![\w+.\-/=#@%])(?<!\d:)(\+)?\(?\d[\d ().-]{5,22}\d(?![\w]|[.\-/]\d)")
_NANP = re.compile(r"(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}")
_NOT_PHONE = re.compile(r"[ .-]{2}|[.-] |\)\(|(?<!\d)(?:\d{4}[-./]\d\d?[-./]\d\d?|\d\d?[-./]\d\d?[-./]\d{2,4})(?!\d)")
# Without a "+" or a North American shape a number counts only right after a word like these
# ("Tel.: ", "Fax ", "call me on ", "【TEL】 "); it is then tried as written in each of _REGIONS
# (the detail names the first that takes it) and as a country code without its "+".
_PHONE_WORD = re.compile(r"(?i)\b(?:tel|phone|call|fax|mobile|mob|cell|whatsapp|t[ée]l[ée]f|tlf|handy|contact|dial"
                         r"|sms|hotline|toll|ph)[\w.]{0,8}(?:[\s:.#)\]】/-]|\b(?:no|nr|number|at|on|me|us|is|or)\b)*$")
_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU", "JP", "ES", "IT", "NL", "BR", "+")
# Numbers set aside for fiction: North American 555-0100..555-0199 and Ofcom's drama ranges.
_FICTION = {1: re.compile(r"\d{3}55501"), 44: re.compile(r"2079460|7700900|1(?:1[3-8]|[2-6]1)4960|2896496|2920180|1632960")}


def check_ready():
    """The `phonenumbers` module; StageError naming the pin to install when it is missing."""
    try:
        import phonenumbers  # here, not at the top: only texts holding a phone-shaped run need it (~15 ms)
    except ImportError:
        raise StageError(f"PII phone detection needs the phonenumbers package: pip install {PHONENUMBERS_PIN}") from None
    return phonenumbers


def _phone_region(candidate: str, regions: tuple) -> str | None:
    pn = check_ready()
    for region in regions:
        try:
            number = pn.parse("+" + candidate, None) if region == "+" else pn.parse(candidate, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(number):
            fiction = _FICTION.get(number.country_code)
            return None if fiction and fiction.match(str(number.national_number)) else pn.region_code_for_number(number) or "intl"
    return None


def _phones(text: str) -> Iterator[Hit]:
    for m in _PHONE.finditer(text):
        raw = m.group()
        if _NOT_PHONE.search(raw) or not 7 <= sum(c.isdigit() for c in raw) <= 15 or raw.count("(") != raw.count(")"):
            continue  # doubled separators or a date inside: not written as a phone number
        if m.group(1):
            regions: tuple = (None,)
        elif _NANP.fullmatch(raw) and raw.lstrip("(")[0] in "23456789":
            regions = ("US",)  # (212) 555-1234 is North American whatever comes before it
        elif _PHONE_WORD.search(text, max(0, m.start() - 32), m.start()):
            regions = _REGIONS
        else:
            continue
        region = _phone_region(raw, regions)
        if region:
            yield Hit("phone", m.start(), m.end(), region)


def find(text: str) -> list[Hit]:
    """Every hit in ``text`` in order of position; of two that overlap, the kind listed first in KINDS."""
    starts: list[int] = []
    hits: list[Hit] = []
    for detect in (_secrets, _emails, _cards, _ips, _phones):
        for hit in detect(text):
            i = bisect.bisect(starts, hit.start)
            if (i and hits[i - 1].end > hit.start) or (i < len(hits) and hits[i].start < hit.end):
                continue
            starts.insert(i, hit.start)
            hits.insert(i, hit)
    return hits


def mask(text: str) -> tuple[str, Counter]:
    """``text`` with each hit replaced by its kind's placeholder, and the number of hits per kind."""
    hits = find(text)
    parts, at = [], 0
    for hit in hits:
        parts += [text[at:hit.start], PLACEHOLDERS[hit.kind]]
        at = hit.end
    return "".join(parts) + text[at:], Counter(h.kind for h in hits)
