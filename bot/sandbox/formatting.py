"""Text formatting the way the Bot API sees it: HTML parse_mode → plain text + entities.

Only what the sandbox needs to judge a message like Telegram does: the tags Telegram accepts,
balanced nesting, offsets/lengths in UTF-16 code units, trimming of surrounding whitespace and
the length limits. Markdown/MarkdownV2 are not parsed: the text is kept as sent.
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

# tag -> entity type; None means the tag needs attribute-specific handling.
_SIMPLE_TAGS = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_SPECIAL_TAGS = {"a", "span", "tg-emoji"}


class EntityParseError(ValueError):
    """The text cannot be parsed; str(exc) is the part after "can't parse entities: "."""


class UnsupportedParseMode(ValueError):
    """parse_mode is not HTML, Markdown or MarkdownV2."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _TelegramHTML(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0]
        for i, ch in enumerate(source):
            if ch == "\n":
                self._line_starts.append(i + 1)
        self.parts: list[str] = []
        self._u16 = 0  # UTF-16 units of plain text so far
        self.stack: list[tuple[str, dict[str, Any] | None, int]] = []
        self.entities: list[dict[str, Any]] = []

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        index = self._line_starts[line - 1] + col
        return len(self._source[:index].encode("utf-8"))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self._u16 += utf16_len(data)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: (v or "") for k, v in attrs}
        entity: dict[str, Any] | None
        if tag in _SIMPLE_TAGS:
            entity = {"type": _SIMPLE_TAGS[tag]}
            if tag == "blockquote" and "expandable" in attributes:
                entity = {"type": "expandable_blockquote"}
            if tag == "code" and self.stack and self.stack[-1][0] == "pre":
                lang = attributes.get("class", "")
                pre_entity = self.stack[-1][1]
                if lang.startswith("language-") and pre_entity is not None:
                    pre_entity["language"] = lang[len("language-"):]
                    entity = None  # <pre><code class="language-x"> is one pre entity
        elif tag == "a":
            href = attributes.get("href", "")
            if href.startswith("tg://user?id="):
                try:
                    uid = int(href.split("=", 1)[1])
                except ValueError:
                    uid = 0
                entity = {"type": "text_mention", "user": {"id": uid, "is_bot": False, "first_name": ""}}
            elif href:
                entity = {"type": "text_link", "url": href}
            else:
                entity = None
        elif tag == "span":
            if attributes.get("class") != "tg-spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset()}'
                )
            entity = {"type": "spoiler"}
        elif tag == "tg-emoji":
            emoji_id = attributes.get("emoji-id")
            if not emoji_id:
                raise EntityParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {self._byte_offset()}')
            entity = {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        else:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        self.stack.append((tag, entity, self._u16))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise EntityParseError(f'Unexpected end tag at byte offset {self._byte_offset()}')
        open_tag, entity, start = self.stack[-1]
        if open_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self._byte_offset()}, expected "</{open_tag}>", found "</{tag}>"'
            )
        self.stack.pop()
        if entity is not None and self._u16 > start:
            entity = dict(entity, offset=start, length=self._u16 - start)
            self.entities.append(entity)

    def handle_comment(self, data: str) -> None:
        raise EntityParseError(f"Unsupported start tag \"!--\" at byte offset {self._byte_offset()}")

    def handle_decl(self, decl: str) -> None:
        raise EntityParseError(f'Unsupported start tag "!" at byte offset {self._byte_offset()}')

    def handle_pi(self, data: str) -> None:
        raise EntityParseError(f'Unsupported start tag "?" at byte offset {self._byte_offset()}')

    def unknown_decl(self, data: str) -> None:
        raise EntityParseError(f'Unsupported start tag "!" at byte offset {self._byte_offset()}')


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of Telegram-HTML `source`; raises EntityParseError."""
    parser = _TelegramHTML(source)
    parser.feed(source)
    parser.close()
    if parser.stack:
        tag = parser.stack[-1][0]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), entities


def _strip(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    out = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            out.append(dict(e, offset=start, length=end - start))
    return stripped, out


def format_text(
    text: str | None, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) of a message text as Telegram would store it.

    Raises EntityParseError for bad HTML and UnsupportedParseMode for an unknown mode.
    """
    text = text or ""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, ents = parse_html(text)
    elif mode in ("", "markdown", "markdownv2"):
        plain, ents = text, list(entities or []) if not mode else []
    else:
        raise UnsupportedParseMode(parse_mode)
    return _strip(plain, ents)
