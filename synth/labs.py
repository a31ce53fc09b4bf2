"""Laboratory results that form plausible series over time.

Each person has a baseline and a monthly trend per test, drawn once from their own stream;
a result is baseline + trend x months since a fixed epoch + measurement noise. So a diabetic's
glucose and HbA1c drift down under treatment and a kidney patient's creatinine creeps up,
whichever nights and facilities the results happen to be taken on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from loaders.records import LabResult, Sex
from synth.rng import stream

_EPOCH = date(2024, 1, 1)


@dataclass(frozen=True, slots=True)
class LabTest:
    code: str  # MA_CHI_SO
    name: str
    service_code: str  # MA_DICH_VU
    unit: str
    upper_normal: float
    decimals: int


TESTS = {
    "GLU": LabTest("GLU", "Glucose máu lúc đói", "23.0075.1494", "mmol/L", 6.4, 1),
    "HBA1C": LabTest("HBA1C", "HbA1c", "23.0083.1523", "%", 6.4, 1),
    "CRE": LabTest("CRE", "Creatinin máu", "23.0051.1494", "µmol/L", 110, 0),
    "CHOL": LabTest("CHOL", "Cholesterol toàn phần", "23.0041.1506", "mmol/L", 5.2, 1),
    "WBC": LabTest("WBC", "Số lượng bạch cầu", "22.0120.1369", "G/L", 10.0, 1),
    "CRP": LabTest("CRP", "CRP định lượng", "23.0058.1487", "mg/L", 5.0, 1),
    "PRO": LabTest("PRO", "Protein niệu", "23.0206.1596", "", 0, 0),
}

# (mean baseline, spread, monthly trend) for people with and without the condition that moves the test
_DIABETIC = {"GLU": (9.5, 1.5, -0.08), "HBA1C": (8.3, 1.0, -0.03)}
_HEALTHY = {"GLU": (5.2, 0.4, 0.0), "HBA1C": (5.4, 0.3, 0.0), "CHOL": (4.8, 0.6, 0.0)}
_CKD_CREATININE = (165.0, 35.0, 1.5)
_LIPID_CHOLESTEROL = (6.4, 0.7, -0.04)
_INFECTION = {"WBC": (14.0, 3.0, 0.0), "CRP": (80.0, 35.0, 0.0)}
_NO_INFECTION = {"WBC": (7.0, 1.5, 0.0), "CRP": (3.0, 1.5, 0.0)}


def _course(code: str, sex: Sex, conditions: tuple[str, ...], infection: bool) -> tuple[float, float, float]:
    if code == "CRE":
        if "N18.3" in conditions:
            return _CKD_CREATININE
        return (85.0, 12.0, 0.0) if sex == Sex.MALE else (65.0, 10.0, 0.0)
    if code == "CHOL" and ("E78.5" in conditions or "I25.9" in conditions):
        return _LIPID_CHOLESTEROL
    if code in _DIABETIC and "E11" in conditions:
        return _DIABETIC[code]
    if code in _INFECTION:
        return (_INFECTION if infection else _NO_INFECTION)[code]
    return _HEALTHY[code]


def lab_result(
    code: str,
    *,
    seed: int,
    person_index: int,
    sex: Sex,
    conditions: tuple[str, ...],
    infection: bool,
    taken_at: datetime,
    rng: random.Random,
) -> LabResult:
    test = TESTS[code]
    result_at = taken_at + timedelta(hours=1, minutes=rng.randrange(60))
    if code == "PRO":
        positive = ("N18.3" in conditions and rng.random() < 0.7) or rng.random() < 0.05
        value, conclusion = ("Dương tính", "Có protein niệu") if positive else ("Âm tính", "Bình thường")
        return LabResult(
            service_code=test.service_code, code=code, name=test.name, value=value,
            conclusion=conclusion, result_at=result_at,
        )  # fmt: skip
    mean, spread, trend = _course(code, sex, conditions, infection)
    baseline = stream(seed, "lab", person_index, code).gauss(mean, spread)
    months = (taken_at.date() - _EPOCH).days / 30.4
    value = max(baseline + trend * months, mean * 0.6) + rng.gauss(0, spread * 0.25)
    value = max(value, 0.1)
    return LabResult(
        service_code=test.service_code,
        code=code,
        name=test.name,
        value=f"{value:.{test.decimals}f}",
        unit=test.unit,
        conclusion="Tăng" if value > test.upper_normal else "Bình thường",
        result_at=result_at,
    )
