"""Pairs of records to score in tests: records varied field by field (for hypothesis), a scorer with
term frequencies on given names too, and every field of a pair compared afresh (what a score's
breakdown must equal)."""

from __future__ import annotations

from hypothesis import strategies as st

from matching.comparison import PersonPair
from matching.model import TermFrequencies, default_parameters
from matching.names import NamePart
from matching.person import PreparedPerson
from matching.score import FieldScore, Scorer

WITH_GIVEN_NAMES = Scorer(
    default_parameters().model_copy(
        update={
            "term_frequencies": {
                **default_parameters().term_frequencies,
                "given_name": TermFrequencies(
                    frequencies={"hung": 0.05, "khiem": 0.001, "lan": 0.02},
                    unseen=1e-4,
                    minimum=1e-4,
                    chance_agreement=0.01,
                ),
            }
        }
    )
)


def compared_afresh(scorer: Scorer, left: PreparedPerson, right: PreparedPerson) -> tuple[FieldScore, ...]:
    """Every field compared again on a pair of its own, its weight looked up in the parameters: what
    the breakdown read back from the scoring's levels must equal, value for value."""
    pair = PersonPair(left, right)
    fields = []
    for comparison in scorer.comparisons:
        index, left_value, right_value = comparison.compare(pair)
        level = comparison.levels[index]
        table = scorer.parameters.term_frequencies.get(comparison.name)
        adjustment = table.adjustment(comparison.term(left_value)) if level.term_frequency and table else 0.0  # type: ignore[misc]
        weight = 0.0 if level.is_null else scorer.parameters.comparison(comparison.name).levels[index].weight
        shown = [
            (v.text or "-") if isinstance(v, NamePart) else "-" if v is None else str(v)
            for v in (left_value, right_value)
        ]
        fields.append(FieldScore(comparison.name, level.name, weight + adjustment, adjustment, *shown))
    return tuple(fields)


NAMES = st.sampled_from([
    "Nguyễn Văn Hùng", "Nguyen Van Hung", "Hùng Nguyễn Văn", "Nguyễn Văn Hưng", "Nguyễn Hùng",
    "Nguyễn Văn Hùnh", "Trần Thị Lan", "Trần Thị Loan", "Nguyễn Văn Khiêm", "Con bà Trần Thị Mai",
    "CON CUA TRAN THI MAI", "Lê Văn An", "Nguyễn Thị Mai",
])  # fmt: skip
CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "full_name": NAMES,
        "birth_year": st.sampled_from([1979, 1980, 1981, 2024]),
        "birth_month": st.sampled_from([None, 5, 12]),
        "birth_day": st.sampled_from([None, 5, 12]),
        "sex": st.sampled_from([None, 1, 2]),
        "citizen_id": st.sampled_from([None, "027080001234", "027080001243", "001085009999"]),
        "social_insurance_number": st.sampled_from([None, "2712345678", "2712345687"]),
        "old_id_number": st.sampled_from([None, "123456789", "123456780"]),
        "phone": st.sampled_from([None, "0912345678", "0912345687", "0988000111"]),
        "commune_code": st.sampled_from([None, "09256", "09257", "26734"]),
        "address_text": st.sampled_from([None, "xã Tam Sơn, Bắc Ninh"]),
    },
)
