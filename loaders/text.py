"""Text as stored: Unicode NFC with runs of white space folded to one space."""

from __future__ import annotations

import unicodedata


def clean_text(raw: str | None) -> str | None:
    """NFC, trimmed, inner white space folded; None for empty."""
    if raw is None:
        return None
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    return text or None
