from __future__ import annotations

from pathlib import Path

import pytest

from synth.writer import SynthSummary, generate_province

# Small enough to be quick, large enough for every noise kind and a referral or two; the window
# (16 June to 5 July 2025) straddles the province merger.
PROVINCE = {"persons": 4000, "facilities": 9, "days": 20, "seed": 11}


@pytest.fixture(scope="session")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("province")
    return out, generate_province(out, **PROVINCE)
