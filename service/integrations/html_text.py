"""Plain text from a comment body sent as HTML (Coral's default body format): what a reader sees, which is what
the model must score. Tags are dropped (block tags become line breaks), entities decoded, ``<script>``/``<style>``
content removed; nothing is ever rendered or executed. Text that holds no markup is returned unchanged."""
from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
               "tr", "table", "section", "article", "hr"}
_SKIP_TAGS = {"script", "style", "template"}
# Markup as comment editors produce it (Coral's: p, br, b, i, strong, em, a, blockquote, span, lists), or an entity.
# A plain-text body such as "a<b et c>d" or "je t'<3" is left alone.
_MARKUP = re.compile(r"</?(?:p|br|div|span|b|i|u|s|em|strong|a|blockquote|ul|ol|li|pre|code|h[1-6]|strike|del|"
                     r"ins|sub|sup|img|hr|table|tr|td|th|section|article|script|style|template)\b[^<>]*/?>|<!--|"
                     r"&(?:#\d+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BREAKS = re.compile(r"\s*\n\s*")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def looks_like_html(text: str) -> bool:
    return bool(_MARKUP.search(text))


def html_to_text(text: str) -> str:
    """The readable text of an HTML fragment (unchanged if it holds no tag or entity)."""
    if not looks_like_html(text):
        return text
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    plain = _SPACES.sub(" ", "".join(parser.parts))
    return _BREAKS.sub("\n", plain).strip()
