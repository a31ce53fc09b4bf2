"""Who comes to a facility on which day: births, acute visits at age-dependent rates, and the
monthly follow-up of people with chronic conditions.

The plan of the whole window is made while the population is generated (people are seen once
there) and kept compactly, five bytes a visit, so later only each day's visitors are regenerated.
It starts WARM_UP_DAYS before the first night, so that people admitted before the window are
discharged, and posted, during its first nights, as in a province that was running before.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from datetime import date
from enum import IntEnum

from synth.clinical import DELIVERY, acute_visits_per_year
from synth.population import Person
from synth.rng import stream

FOLLOW_UP_DAYS = (26, 34)  # chronic patients come back about monthly
WARM_UP_DAYS = 14  # the longest stay (clinical.ILLNESSES)


class VisitKind(IntEnum):
    ACUTE = 0
    FOLLOW_UP = 1
    BIRTH = 2  # the baby's own record at the maternity ward it was born in


def planned_visits(person: Person, seed: int, start: date, days: int) -> Iterator[tuple[int, VisitKind]]:
    """(day number, kind) of every visit the person makes from day -WARM_UP_DAYS to the window's end."""
    rng = stream(seed, "plan", person.index)
    rate = acute_visits_per_year(person.age_on(start)) / 365
    born = (person.birth_date - start).days  # babies born during the warm-up or the window
    if -WARM_UP_DAYS <= born < days:
        yield born, VisitKind.BIRTH  # draws nothing: every other visit keeps its draws
    day = max(-WARM_UP_DAYS, born + DELIVERY.stay_days[1]) + rng.expovariate(rate)  # once home
    while day < days:
        yield math.floor(day), VisitKind.ACUTE
        day += rng.expovariate(rate)
    if person.conditions:
        follow_up = -WARM_UP_DAYS + rng.randrange(FOLLOW_UP_DAYS[1])
        while follow_up < days:
            if follow_up >= 0:  # follow-ups are never admitted: before the window they post nothing
                yield follow_up, VisitKind.FOLLOW_UP
            follow_up += rng.randint(*FOLLOW_UP_DAYS)


class Schedule:
    """Visits by day, for days -WARM_UP_DAYS to `days` - 1."""

    def __init__(self, days: int) -> None:
        self._people = [array("I") for _ in range(WARM_UP_DAYS + days)]
        self._kinds = [array("B") for _ in range(WARM_UP_DAYS + days)]

    def add(self, day: int, person_index: int, kind: VisitKind) -> None:
        self._people[WARM_UP_DAYS + day].append(person_index)
        self._kinds[WARM_UP_DAYS + day].append(kind)

    def on(self, day: int) -> Iterator[tuple[int, VisitKind]]:
        people, kinds = self._people[WARM_UP_DAYS + day], self._kinds[WARM_UP_DAYS + day]
        return ((person, VisitKind(kind)) for person, kind in zip(people, kinds, strict=True))

    def __len__(self) -> int:
        return sum(len(people) for people in self._people)
