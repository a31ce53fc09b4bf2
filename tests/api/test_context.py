"""A request's context shows a patient's identity only from the rows its audited read returned."""

from __future__ import annotations

import pytest

from registry.access.roles import Role
from registry.access.tokens import Principal
from registry.api.config import ApiConfig
from registry.api.facility_directory import FacilityDirectory
from registry.api.graphql.context import Context


def test_a_patient_whose_read_was_not_audited_is_refused() -> None:
    context = Context(
        principal=Principal(token_id=1, name="doctor", role=Role.CLINICIAN, facility_code=None),
        request_id="r1",
        db=None,  # type: ignore[arg-type]  # nothing is read: the refusal comes first
        config=ApiConfig(),
        facilities=FacilityDirectory(),
    )
    with pytest.raises(RuntimeError, match="without an audit"):
        context.sources_of(42)
    context.audited_sources[42] = []
    assert context.sources_of(42) == []
