"""What a master id answers with: master ids are stable and never reused for another person.

An active identity answers for its own records. An identity left without records is retired, not
deleted (its id may be stored in a hospital's system): it keeps the records it held at that
moment, and answers with the identities those records are in now, following them as they move
on. When they are in one identity, that one (`merged_into` names it); when they went to several,
all of them: the answer says so rather than picking one. A retired id comes back only with
exactly those records (an undone merge, a record returning to the id it came from), so an id
never comes to answer for someone it did not answer for (enforced in `registry.identity.links`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry.db.sql import Query


@dataclass(frozen=True)
class MasterIdAnswer:
    master_patient_id: int
    active: bool
    # Active: itself. Retired: the identities its records are in now (id order), several when they
    # scattered.
    answers_with: tuple[int, ...]

    @property
    def moved_to(self) -> int | None:
        """A retired id whose records are all in one identity: that identity."""
        return self.answers_with[0] if not self.active and len(self.answers_with) == 1 else None

    @property
    def scattered(self) -> bool:
        """A retired id whose records are now in several identities."""
        return len(self.answers_with) > 1


_ANSWERS = """
SELECT m.id, m.retired_at IS NULL,
       CASE WHEN m.retired_at IS NULL THEN ARRAY[m.id] ELSE ARRAY(
           SELECT DISTINCT l.master_patient_id
           FROM retired_identity_record r
           JOIN patient_link l ON l.source_patient_id = r.source_patient_id AND l.superseded_at IS NULL
           WHERE r.master_patient_id = m.id
           ORDER BY 1) END
FROM master_patient m
WHERE m.id = ANY(%(masters)s::bigint[])
"""


def _answers(found: list[Any]) -> dict[int, MasterIdAnswer]:
    return {
        int(master): MasterIdAnswer(int(master), bool(active), tuple(int(m) for m in answers))
        for master, active, answers in found
    }


def answers_for(master_ids: Iterable[int]) -> Query[dict[int, MasterIdAnswer]]:
    """Each existing master id's answer (ids that never existed are left out)."""
    return Query(_ANSWERS, {"masters": sorted(set(master_ids))}, _answers)


def answer_for(master_id: int) -> Query[MasterIdAnswer | None]:
    return Query(_ANSWERS, {"masters": [master_id]}, lambda found: _answers(found).get(master_id))
