"""Names and slugs: the length limit on names people type, and URL slugs (lower-case ASCII
words joined by hyphens)."""

from __future__ import annotations

import re
import unicodedata

# Longest name of a person, company, product or variant (the columns are varchar(200)).
MAX_NAME_LENGTH = 200

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_WORD.sub("-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "item"
