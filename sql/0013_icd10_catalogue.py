"""ICD-10 titles: the catalogue table, the functions reading it, and the WHO's titles shipped with
provreg (registry/codes/icd10.py). The province's Vietnamese catalogue is loaded later, as data, by
`provreg codes load-icd10`."""

from yoyo import step

from registry.codes.icd10 import fill_who_catalogue

__depends__ = {"0012_identity_history"}

CREATE = """
CREATE TABLE icd10_catalogue (
    catalogue   text NOT NULL CHECK (catalogue IN ('who', 'province')),
    code        text NOT NULL,  -- upper case, dotted; WHO chapters by roman numeral, blocks by range
    title       text NOT NULL,
    chapter     text,           -- the WHO chapter (roman numeral) the code is in
    source      text NOT NULL,  -- the package and version, or the file, it was loaded from
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, catalogue)
);

-- The title a doctor reads: the province's (Vietnamese) when it has the code, else the WHO's.
CREATE FUNCTION icd10_title(code text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.title FROM icd10_catalogue c WHERE c.code = $1 ORDER BY c.catalogue = 'province' DESC LIMIT 1
$$;
CREATE FUNCTION icd10_title_en(code text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.title FROM icd10_catalogue c WHERE c.code = $1 AND c.catalogue = 'who'
$$;
-- The code's chapter (roman numeral): the code's own, else its category's (a code the WHO lacks).
CREATE FUNCTION icd10_chapter(code text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.chapter FROM icd10_catalogue c
    WHERE c.code IN ($1, left($1, 3)) AND c.chapter IS NOT NULL
    ORDER BY c.code = $1 DESC, c.catalogue = 'province' DESC LIMIT 1
$$;
"""

DROP = """
DROP FUNCTION icd10_chapter(text);
DROP FUNCTION icd10_title_en(text);
DROP FUNCTION icd10_title(text);
DROP TABLE icd10_catalogue;
"""

steps = [step(CREATE, DROP), step(fill_who_catalogue)]
