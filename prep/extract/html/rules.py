"""What the HTML walk keeps and drops: tag sets, clutter words, roles, and the tests on them.

An element is clutter when a tag never holds prose (script, nav, forms...), when it is
hidden, when its ARIA role names page furniture, or when its id/class/aria-label holds a
clutter word ("cookie-banner", "newsletter", "share-bar", "related-posts", "comments").
Named clutter is kept when it holds the content itself (a wrapper called "with-sidebar").
"""
from __future__ import annotations

import re
from functools import lru_cache

from bs4 import Tag

# Never prose. (<nav> is here too: menus are links by definition.)
DROP_TAGS = frozenset("""script style noscript template svg math iframe frame frameset object
    embed canvas applet button select input textarea option optgroup datalist output
    nav audio video source track map area dialog head link base""".split())
BLOCK_TAGS = frozenset("""address article aside blockquote body caption center dd details dir
    div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html
    legend li main menu ol p pre section summary table tbody tfoot thead tr ul""".split())
# Containers whose blocks are taken back when more than this fraction of their text is links.
# Prose paragraphs may carry several links, so they need a higher share before they go.
LINK_DENSITY_LIMIT = {"div": 0.5, "section": 0.5, "ul": 0.5, "ol": 0.5, "dl": 0.5, "menu": 0.5,
                      "table": 0.5, "details": 0.5, "p": 0.75}
# Words in id/class/aria-label that name clutter; matched as whole words of the name
# ("cookie-banner" -> cookie, "relatedPosts" is not split, "post-related" -> related).
BOILERPLATE_WORDS = frozenset("""cookie cookies consent gdpr newsletter subscribe subscription
    signup share sharing sharebar social related breadcrumb breadcrumbs comment comments disqus
    advert advertisement ads sponsor sponsored promo popup modal sidebar widget widgets navbar
    nav menu pagination pager footer skiplink""".split())
# Words that name page furniture only outside the content: a "site-header" goes, an
# "article-header" holding the subtitle and intro stays.
PAGE_WORDS = frozenset({"header", "masthead", "topbar", "banner"})
BOILERPLATE_CLASSES = frozenset({"sr-only", "screen-reader-text", "visually-hidden", "skip-link"})
DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog",
                        "alertdialog", "menu", "menubar", "toolbar"})
# An element named like clutter is still kept when it holds any of these (a page wrapper
# called "with-sidebar", an ASP.NET <form> around the whole page).
CONTENT_MARKERS = ["main", "article", "h1"]
PROTECTED = frozenset({"html", "body", "main", "article"})
# A <form> with this many paragraphs wraps a page rather than a few fields.
FORM_PAGE_PARAGRAPHS = 4
# Words in the id/class of a <div> or <section> that name the article body in templates
# without <article> ("post-content", "entry", "story-body"); such an element counts as one.
ARTICLE_WORDS = frozenset({"post", "entry", "article", "story"})
NAMED_ARTICLE_TAGS = frozenset({"div", "section"})
# Tags whose fate depends on where they sit (see BlockWalker.context_drops).
CONTEXT_TAGS = frozenset({"header", "footer", "aside", "form"})
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Line-number gutters of syntax highlighters: Pygments (Sphinx, MkDocs) writes them as a table
# cell beside the code (td.linenos > div.linenodiv > pre) or inline at each line's start
# (span.linenos; span.lineno before Pygments 2.7). A reader copies the code without them.
GUTTER_CLASSES = frozenset({"linenos", "linenodiv", "lineno"})


def is_gutter(tag: Tag) -> bool:
    classes = tag.attrs.get("class") if tag.attrs else None
    return bool(classes) and not GUTTER_CLASSES.isdisjoint(classes if isinstance(classes, list) else classes.split())


@lru_cache(maxsize=4096)
def clutter_level(names: str) -> int:
    """2 when a space-joined class/id/aria-label string names clutter, 1 page furniture, else 0."""
    lowered = names.lower()
    if any(cls in BOILERPLATE_CLASSES for cls in lowered.split()):
        return 2
    words = set(re.split(r"[^a-z0-9]+", lowered))
    return 2 if not BOILERPLATE_WORDS.isdisjoint(words) else 1 if not PAGE_WORDS.isdisjoint(words) else 0


@lru_cache(maxsize=4096)
def names_article(names: str) -> bool:
    return not ARTICLE_WORDS.isdisjoint(re.split(r"[^a-z0-9]+", names.lower()))


def name_string(attrs: dict) -> str:
    """class, id and aria-label as one string (bs4 gives class as a list)."""
    classes = attrs.get("class")
    return " ".join(filter(None, (" ".join(classes) if isinstance(classes, list) else classes,
                                  attrs.get("id"), attrs.get("aria-label"))))


def attrs_say_drop(tag: Tag, names: str, in_content: bool) -> bool:
    """Hidden, a clutter role, or an id/class/aria-label naming clutter (unless it holds content).

    ``in_content``: the element sits inside <main> or <article>, where page-furniture words
    (header, banner) do not count.
    """
    attrs = tag.attrs
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    role, style = attrs.get("role"), attrs.get("style")
    if role and role.strip().lower() in DROP_ROLES:
        return True
    if style and HIDDEN_STYLE.search(style):
        return True
    if not names or tag.name in PROTECTED or clutter_level(names) <= in_content:
        return False
    return tag.find(CONTENT_MARKERS) is None
