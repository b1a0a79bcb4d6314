"""A package's README as safe HTML: Markdown by markdown-it-py (CommonMark, raw HTML allowed as on
GitHub), then everything that could run or load from elsewhere removed by nh3 (Rust's ammonia): no
script or style, no event handler attribute, links only to http(s), mailto and this appliance, images
only from this appliance or https.

A hostile README must not hold a worker for long: markdown-it-py is quadratic on some inputs (64 KiB
of `[` takes it a second or two) and html5ever, under nh3, on deeply nested raw HTML (20,000 unclosed
`<div>` take it seconds, 100,000 a minute). So a page renders at most MAX_SOURCE characters, block
nesting is bounded (markdown-it's maxNesting), a README with more than MAX_RAW_TAGS raw HTML tags is
rendered with its HTML shown as text, and the result is kept per version (`rendered_readme`).
"""
from __future__ import annotations

import functools
import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# What a page shows of a README; past it, a line says the rest is cut.
MAX_SOURCE = 64 * 1024
MAX_RAW_TAGS = 2000
RAW_TAG = re.compile(r"<[A-Za-z/!?]")

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "picture", "pre",
    "q", "s", "samp", "source", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "tt", "ul", "var",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "source": {"srcset", "media"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "code": {"class"},
    "details": {"open"},
}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": True, "maxNesting": 20}).enable(["table", "strikethrough"])
_markdown_without_html = MarkdownIt("commonmark", {"html": False, "maxNesting": 20}).enable(["table", "strikethrough"])


def _image_allowed(url: str) -> bool:
    """An image loads from this appliance (a path, not `//host`) or from any https origin."""
    url = url.strip()
    lowered = url.lower()
    if lowered.startswith("https://"):
        return True
    if lowered.startswith(("//", "\\")):
        return False
    return ":" not in url.split("/", 1)[0]  # a relative path: no scheme before the first slash


def _filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not _image_allowed(value):
        return None
    if tag == "source" and attribute == "srcset":
        return value if all(_image_allowed(part.strip().split(" ")[0]) for part in value.split(",")) else None
    if tag == "code" and attribute == "class":
        return value if value.startswith("language-") and value.replace("-", "").isalnum() else None
    return value


def render_markdown(text: str) -> Markup:
    """`text` as HTML that can be put in a page as it is."""
    cut = len(text) > MAX_SOURCE
    if cut:
        text = text[:MAX_SOURCE]
    renderer = _markdown if len(RAW_TAG.findall(text)) <= MAX_RAW_TAGS else _markdown_without_html
    html = renderer.render(text)
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, attribute_filter=_filter,
                      link_rel="nofollow noopener noreferrer", strip_comments=True)
    if cut:
        clean += f'<p class="muted">The README is cut here: it is longer than {MAX_SOURCE:,} characters.</p>'
    return Markup(clean)


@functools.lru_cache(maxsize=256)
def rendered_readme(version_id: int, updated_at: str, text: str) -> Markup:
    """The rendered README of a version, kept while the version is unchanged (its `updated_at`)."""
    return render_markdown(text)
