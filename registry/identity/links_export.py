"""The links export: the stable contract downstream tools and evaluations read.

CSV with header facility_code,local_patient_id,master_patient_id, one row per source patient
(its current link), ordered by facility and local id.
"""

from __future__ import annotations

from typing import BinaryIO

from registry.db.sql import connect

_EXPORT = """
COPY (
    SELECT sp.facility_code, sp.local_id AS local_patient_id, l.master_patient_id
    FROM source_patient sp
    JOIN patient_link l ON l.source_patient_id = sp.id AND l.superseded_at IS NULL
    ORDER BY sp.facility_code, sp.local_id
) TO STDOUT WITH (FORMAT csv, HEADER true)
"""


def export_links(database_url: str, out: BinaryIO) -> int:
    """Stream the export to `out`; returns the number of rows written."""
    rows = 0
    with connect(database_url) as connection, connection.cursor() as cursor, cursor.copy(_EXPORT) as copy:
        for block in copy:
            out.write(block)
            rows += bytes(block).count(b"\n")
    out.flush()
    return max(rows - 1, 0)
