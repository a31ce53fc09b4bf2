"""Codes that say what they mean: the XML 130 code lists' labels (xml130.toml, labels.py) and the
ICD-10 catalogues (icd10.py: the WHO's titles shipped with provreg, the province's own Vietnamese
list loaded as data)."""
