from __future__ import annotations

import json
from pathlib import Path

import pytest

from matching.compare import STANDARD_COMPARISONS
from matching.model import FORMAT_VERSION, ModelParameters, TermFrequencies, default_parameters


def test_defaults_weigh_agreement_for_and_disagreement_against() -> None:
    parameters = default_parameters()
    for comparison in parameters.comparisons:
        assert (
            comparison.level("different" if comparison.name != "address" else "different_commune").weight < 0
        )
    for name in ("citizen_id", "social_insurance", "birth_date"):
        assert parameters.comparison(name).level("same" if name != "birth_date" else "exact").weight > 10


def test_a_shared_card_across_generations_weighs_nothing_by_default() -> None:
    assert default_parameters().comparison("citizen_id").level("same_other_generation").weight == 0


def test_parameters_round_trip_through_versioned_json(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    default_parameters().save(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "provreg.matching.model"
    assert document["format_version"] == FORMAT_VERSION
    assert document["comparisons"][0]["levels"][1] == {"name": "same", "m": 0.96, "u": 1e-06}
    assert ModelParameters.load(path) == default_parameters()


def test_parameters_for_other_comparisons_are_refused() -> None:
    with pytest.raises(ValueError, match="other comparisons"):
        default_parameters().check_fits(STANDARD_COMPARISONS[1:])


def test_a_model_made_before_a_comparison_was_added_takes_its_defaults() -> None:
    defaults = default_parameters()
    older = defaults.model_copy(
        update={"comparisons": tuple(c for c in defaults.comparisons if c.name != "newborn")}
    )
    with pytest.raises(ValueError, match="other comparisons"):
        older.check_fits(STANDARD_COMPARISONS)
    assert older.fitted_to(STANDARD_COMPARISONS).comparisons == defaults.comparisons
    with pytest.raises(ValueError, match="other comparisons"):
        defaults.fitted_to(STANDARD_COMPARISONS[1:])  # a comparison the engine no longer makes
    middle = defaults.comparison("middle_name")
    without_typo = middle.model_copy(
        update={"levels": tuple(lv for lv in middle.levels if lv.name != "typo")}
    )
    older = defaults.model_copy(
        update={
            "comparisons": tuple(without_typo if c.name == "middle_name" else c for c in defaults.comparisons)
        }
    )
    assert older.fitted_to(STANDARD_COMPARISONS).comparisons == defaults.comparisons


def test_term_frequencies_weigh_rare_agreement_more() -> None:
    family = default_parameters().term_frequencies["family_name"]
    assert family.adjustment("nguyen") < 0 < family.adjustment("tran") < family.adjustment("khieu")
    assert family.adjustment("khieu") == family.adjustment(None)


def test_the_frequency_floor_caps_the_adjustment() -> None:
    table = TermFrequencies(
        frequencies={"a": 0.5, "b": 1e-6}, unseen=1e-6, minimum=1e-3, chance_agreement=0.25
    )
    assert table.adjustment("b") == table.adjustment("never seen") == pytest.approx(7.97, abs=0.01)
