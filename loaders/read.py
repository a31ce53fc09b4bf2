"""Reading any supported file: the format is detected from its start unless the options name it."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from loaders.csv_clinic import read_csv
from loaders.detect import DETECT_BYTES, detect_format, peeked
from loaders.fhir import read_fhir
from loaders.options import LoaderOptions
from loaders.records import FileHeader, Reject, SourceFormat, SourceRecord
from loaders.xml130 import RawHoso, read_xml130


def read_units(
    stream: BinaryIO, options: LoaderOptions, *, defer: bool = False
) -> Iterator[FileHeader | SourceRecord | Reject | RawHoso]:
    """A FileHeader, then one SourceRecord or Reject per unit; raises UnreadableFile (see loaders.records).

    With `defer`, an XML 130 file's HOSOs come unread (RawHoso; see read_xml130), other formats'
    units as usual. A blank file (no bytes, or only a BOM and white space) is an empty extract in any format: a
    quiet night at a facility with no visits, not an error.
    """
    head, stream = peeked(stream, DETECT_BYTES)
    if len(head) < DETECT_BYTES and not head.removeprefix(codecs.BOM_UTF8).strip():
        yield FileHeader(format=options.format, facility_code=options.facility_code)
        return
    source_format = options.format or detect_format(head, profile=options.profile)
    if source_format is SourceFormat.XML130:
        yield from read_xml130(stream, options, defer=defer)
    elif source_format is SourceFormat.FHIR:
        yield from read_fhir(stream, options)
    else:
        yield from read_csv(stream, options)
