"""`dataQuality` over GraphQL: the report of `provreg quality`, and who may read which facility's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Graphql, MakeToken, codes
from tests.database import Database
from tests.registry.test_quality import province  # noqa: F401 (the hand-made registry, a fixture)

QUALITY = """
query($facility: String, $since: Date = "2025-06-10", $until: Date = "2025-06-16") {
  dataQuality(facility: $facility, since: $since, until: $until) {
    since until previousSince previousUntil unattributedFiles
    facilities {
      code name firstNight missingNights
      period { nights nightsMissing nightsNotLoaded filesRefused filesDuplicate recordsIn rejected flagged
               visits visitsWithCitizenId citizenIdShare }
      previous { nights nightsMissing citizenIdShare }
      rejectReasons { field reason count }
      flags { identifier kind count }
      fileRefusals { field reason count }
      nights { night missing files filesLoaded citizenIdShare }
    }
  }
}
"""


def quality(graphql: Graphql, token: str, **variables: Any) -> dict[str, Any]:
    return graphql(token, QUALITY, variables, purpose=None)


@pytest.mark.parametrize("role", ["steward", "admin"])
def test_stewards_and_admins_read_every_facility(
    province: Database,  # noqa: F811
    graphql: Graphql,
    make_token: MakeToken,
    role: str,
) -> None:
    answer = quality(graphql, make_token(role))
    assert "errors" not in answer, answer
    report = answer["data"]["dataQuality"]
    assert (report["since"], report["until"]) == ("2025-06-10", "2025-06-16")
    assert (report["previousSince"], report["previousUntil"]) == ("2025-06-03", "2025-06-09")
    assert report["unattributedFiles"] == 1
    assert [f["code"] for f in report["facilities"]] == ["27001", "27002", "27003"]
    hospital = report["facilities"][0]
    assert hospital["firstNight"] == "2025-06-05"
    assert hospital["missingNights"] == ["2025-06-11", "2025-06-15"]
    assert hospital["period"] == {
        "nights": 7, "nightsMissing": 2, "nightsNotLoaded": 2, "filesRefused": 1, "filesDuplicate": 1,
        "recordsIn": 20, "rejected": 4, "flagged": 4, "visits": 18, "visitsWithCitizenId": 14,
        "citizenIdShare": 0.7778,
    }  # fmt: skip
    assert hospital["previous"] == {"nights": 5, "nightsMissing": 1, "citizenIdShare": 0.75}
    assert hospital["rejectReasons"] == [
        {"field": "MA_BN", "reason": "missing", "count": 2},
        {"field": "NGAY_VAO", "reason": "… is not a valid date (month #)", "count": 2},
        {"field": "HO_TEN", "reason": "missing", "count": 1},
    ]
    assert hospital["flags"][0] == {"identifier": "person_id", "kind": "inconsistent", "count": 2}
    assert hospital["fileRefusals"] == [
        {"field": None, "reason": "SOLUONGHOSO says # records, the file holds #", "count": 1}
    ]
    assert hospital["nights"][1] == {
        "night": "2025-06-11", "missing": True, "files": 0, "filesLoaded": 0, "citizenIdShare": None,
    }  # fmt: skip
    silent = report["facilities"][2]
    assert (silent["firstNight"], silent["nights"], silent["period"]["nights"]) == (None, [], 0)


def test_a_facility_token_reads_its_own_facility_only(
    province: Database,  # noqa: F811
    graphql: Graphql,
    make_token: MakeToken,
) -> None:
    token = make_token("facility", facility_code="27002")
    own = quality(graphql, token)["data"]["dataQuality"]
    assert [f["code"] for f in own["facilities"]] == ["27002"]
    assert own["unattributedFiles"] == 0  # files of no known facility are nobody's to see
    assert own["facilities"][0]["missingNights"] == ["2025-06-15"]
    named = quality(graphql, token, facility="27002")["data"]["dataQuality"]
    assert [f["code"] for f in named["facilities"]] == ["27002"]
    other = quality(graphql, token, facility="27001")
    assert codes(other) == ["FORBIDDEN"] and other["data"] is None


def test_clinicians_may_not_read_it(province: Database, graphql: Graphql, make_token: MakeToken) -> None:  # noqa: F811
    token = make_token("clinician")
    assert codes(quality(graphql, token)) == ["FORBIDDEN"]
    assert codes(quality(graphql, token, facility="27001")) == ["FORBIDDEN"]


def test_a_period_it_cannot_report_is_the_clients_mistake(graphql: Graphql, make_token: MakeToken) -> None:
    steward = make_token("steward")
    backwards = quality(graphql, steward, since="2025-06-16", until="2025-06-10")
    assert codes(backwards) == ["BAD_USER_INPUT"] and "before it starts" in backwards["errors"][0]["message"]
    too_long = quality(graphql, steward, since="2020-01-01", until="2025-06-10")
    assert codes(too_long) == ["BAD_USER_INPUT"]
    assert codes(quality(graphql, steward, facility="not a code")) == ["BAD_USER_INPUT"]
