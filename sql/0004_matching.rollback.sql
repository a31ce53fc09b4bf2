ALTER TABLE patient_link DROP CONSTRAINT patient_link_method_check;
ALTER TABLE patient_link ADD CONSTRAINT patient_link_method_check
    CHECK (method IN ('citizen_id', 'new_identity', 'score', 'steward'));
DROP TABLE match_model, match_constraint, match_review, blocking_key;
