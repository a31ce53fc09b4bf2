"""Reading any supported file: the format is detected from its start unless the options name it."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import BinaryIO

from loaders.csv_clinic import read_csv
from loaders.detect import DETECT_BYTES, detect_format, peeked
from loaders.fhir import read_fhir
from loaders.options import LoaderOptions
from loaders.records import FileHeader, Reject, SourceFormat, SourceRecord
from loaders.xml130 import read_xml130

Reader = Callable[[BinaryIO, LoaderOptions], Iterator[FileHeader | SourceRecord | Reject]]

READERS: dict[SourceFormat, Reader] = {
    SourceFormat.XML130: read_xml130,
    SourceFormat.FHIR: read_fhir,
    SourceFormat.CSV: read_csv,
}


def read_units(stream: BinaryIO, options: LoaderOptions) -> Iterator[FileHeader | SourceRecord | Reject]:
    """A FileHeader, then one SourceRecord or Reject per unit; raises UnreadableFile (see loaders.records).

    A blank file (no bytes, or only a BOM and white space) is an empty extract in any format: a
    quiet night at a facility with no visits, not an error.
    """
    head, stream = peeked(stream, DETECT_BYTES)
    if len(head) < DETECT_BYTES and not head.removeprefix(codecs.BOM_UTF8).strip():
        yield FileHeader(format=options.format, facility_code=options.facility_code)
        return
    source_format = options.format or detect_format(head, profile=options.profile)
    yield from READERS[source_format](stream, options)
