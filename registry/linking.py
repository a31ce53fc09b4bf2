"""Linking source patients to master identities (first rule, to be replaced by the matching engine).

Rule: a source patient with a valid citizen ID joins the master identity of that citizen ID
(founding it if new); one without joins nothing and founds its own identity. A steward's
link is never changed. Works on the `patient_result` table of the current load (the source
patients inserted or changed), set-based; the unique citizen ID on master_patient makes two
loads that meet the same new person at once agree on one identity.
"""

from __future__ import annotations

from typing import Any

import psycopg

RULE = "rule:citizen-id-v1"

_FOUND_CITIZEN_MASTERS = """
INSERT INTO master_patient (citizen_id, founded_by_source_patient_id)
SELECT DISTINCT ON (sp.citizen_id) sp.citizen_id, sp.id
FROM patient_result r JOIN source_patient sp ON sp.id = r.id
WHERE sp.citizen_id IS NOT NULL
ORDER BY sp.citizen_id, sp.id
ON CONFLICT (citizen_id) DO NOTHING
"""

_TARGETS = """
CREATE TEMP TABLE link_target ON COMMIT DROP AS
SELECT sp.id AS source_patient_id, m.id AS master_patient_id,
       CASE WHEN sp.citizen_id IS NULL THEN 'new_identity' ELSE 'citizen_id' END AS method,
       cur.id AS current_link_id, cur.master_patient_id AS current_master_id, cur.method AS current_method
FROM patient_result r
JOIN source_patient sp ON sp.id = r.id
LEFT JOIN master_patient m ON m.citizen_id = sp.citizen_id
LEFT JOIN patient_link cur ON cur.source_patient_id = sp.id AND cur.superseded_at IS NULL
"""

_FOUND_OWN_MASTERS = """
WITH founded AS (
    INSERT INTO master_patient (founded_by_source_patient_id)
    SELECT source_patient_id FROM link_target
    WHERE master_patient_id IS NULL AND current_link_id IS NULL
    ORDER BY source_patient_id
    RETURNING id, founded_by_source_patient_id
)
UPDATE link_target t SET master_patient_id = f.id
FROM founded f WHERE f.founded_by_source_patient_id = t.source_patient_id
"""

_TO_RELINK = """
CREATE TEMP TABLE link_change ON COMMIT DROP AS
SELECT * FROM link_target
WHERE master_patient_id IS NOT NULL
  AND (current_link_id IS NULL
       OR (current_master_id <> master_patient_id AND current_method <> 'steward'))
"""

_SUPERSEDE = """
UPDATE patient_link l SET superseded_at = now()
FROM link_change c WHERE l.id = c.current_link_id
"""

_INSERT_LINKS = """
WITH inserted AS (
    INSERT INTO patient_link (source_patient_id, master_patient_id, method, decided_by, batch_id)
    SELECT source_patient_id, master_patient_id, method, %(rule)s, %(batch)s FROM link_change
    ORDER BY source_patient_id
    RETURNING id, source_patient_id
)
UPDATE patient_link old SET superseded_by = i.id
FROM inserted i JOIN link_change c USING (source_patient_id)
WHERE old.id = c.current_link_id
"""


def link_changed_patients(connection: psycopg.Connection[Any], batch_id: int) -> int:
    """Link the patients this load inserted or changed; returns how many links were made."""
    with connection.cursor() as cursor:
        cursor.execute(_FOUND_CITIZEN_MASTERS)
        cursor.execute(_TARGETS)
        cursor.execute(_FOUND_OWN_MASTERS)
        cursor.execute(_TO_RELINK)
        cursor.execute(_SUPERSEDE)
        cursor.execute(_INSERT_LINKS, {"rule": RULE, "batch": batch_id})
        changed = cursor.execute("SELECT count(*) FROM link_change").fetchone()
    return changed[0] if changed else 0
