-- The matching engine's state: blocking keys (candidate search is an index lookup), the
-- stewards' review queue of possible matches, their binding decisions, and model versions.
-- A master's citizen_id is the citizen ID that identity holds; one whose founding record
-- carries a citizen ID already held by another identity (a child on a parent's card) holds none.
-- depends: 0001_initial

CREATE TABLE blocking_key (
    kind                text NOT NULL,
    value               text NOT NULL,
    source_patient_id   bigint NOT NULL,
    PRIMARY KEY (kind, value, source_patient_id)
);
CREATE INDEX blocking_key_by_patient ON blocking_key (source_patient_id);

-- Possible matches the engine would not decide alone, for a steward.
CREATE TABLE match_review (
    id                              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_patient_id               bigint NOT NULL REFERENCES source_patient (id),
    candidate_source_patient_id     bigint NOT NULL REFERENCES source_patient (id),
    weight                          double precision NOT NULL,
    probability                     double precision NOT NULL,
    reason                          text NOT NULL,
    explanation                     jsonb NOT NULL,
    status                          text NOT NULL DEFAULT 'open'
                                    CHECK (status IN ('open', 'same', 'different', 'dismissed')),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    decided_by                      text,
    decided_at                      timestamptz,
    UNIQUE (source_patient_id, candidate_source_patient_id)
);
CREATE INDEX match_review_open ON match_review (created_at) WHERE status = 'open';

-- A steward's decision about two source patients; every later run honours it.
CREATE TABLE match_constraint (
    left_source_patient_id      bigint NOT NULL REFERENCES source_patient (id),
    right_source_patient_id     bigint NOT NULL REFERENCES source_patient (id),
    same_person                 boolean NOT NULL,
    decided_by                  text NOT NULL,
    decided_at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (left_source_patient_id, right_source_patient_id),
    CHECK (left_source_patient_id < right_source_patient_id)
);

-- Trained parameter sets; the newest active one is used.
CREATE TABLE match_model (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_version   text NOT NULL UNIQUE,
    parameters      jsonb NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    active          boolean NOT NULL DEFAULT true
);

ALTER TABLE patient_link DROP CONSTRAINT patient_link_method_check;
ALTER TABLE patient_link ADD CONSTRAINT patient_link_method_check
    CHECK (method IN ('citizen_id', 'new_identity', 'score', 'steward', 'batch'));
