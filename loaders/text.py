"""Text as stored: Unicode NFC with runs of white space folded to one space."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")


def clean_text(raw: str | None) -> str | None:
    """NFC, trimmed, inner white space folded; None for empty."""
    if raw is None:
        return None
    text = _SPACE.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    return text or None
