"""Which reader a file needs, told from its first few KB."""

from __future__ import annotations

import codecs
import csv
import io
from typing import Any, BinaryIO

from loaders.csv_clinic import given_columns, sniff_delimiter
from loaders.options import Profile, default_profile
from loaders.records import SourceFormat, UnreadableFile

DETECT_BYTES = 8 * 1024


def detect_format(head: bytes, *, profile: Profile | None = None) -> SourceFormat:
    """XML 130 ('<' and a GIAMDINHHS envelope), FHIR ('{') or CSV (a header giving known columns).

    `profile` supplies the CSV column names (a vendor may rename them); the default profile otherwise.
    A split field counts when all of one of its alternatives is there ("Họ và tên đệm" + "Tên"); a
    lone part ("Tên") does not.
    """
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if not text:
        raise UnreadableFile("not a known format: the file is empty")
    if text.startswith(b"<"):
        if b"GIAMDINHHS" in text:
            return SourceFormat.XML130
        raise UnreadableFile("not a known format: XML without the GIAMDINHHS envelope of XML 130")
    if text.startswith(b"{"):
        return SourceFormat.FHIR
    # The head may end inside a character: the header line is only compared, never stored.
    first_line = text.splitlines()[0].decode("utf-8", errors="replace")
    try:
        header = next(csv.reader([first_line], delimiter=sniff_delimiter(first_line)))
    except csv.Error:  # e.g. a quote left open: no header line provreg could read
        header = []
    if given_columns(header, profile or default_profile()):
        return SourceFormat.CSV
    raise UnreadableFile(f"not a known format: starts with {first_line[:60]!r}")


def peeked(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first `size` bytes of `stream` (fewer only at its end), and a stream reading it from the start.

    Reads until it has them, as a pipe may deliver a few bytes at a time. `stream` is left open.
    """
    head = bytearray()
    while len(head) < size and (chunk := stream.read(size - len(head))):
        head += chunk
    peeked_bytes = bytes(head)
    return peeked_bytes, io.BufferedReader(_Replayed(peeked_bytes, stream))


class _Replayed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of that stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
