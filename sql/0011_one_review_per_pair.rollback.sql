-- The reversed duplicates come back as they were; pairs queued since stay one item each.
ALTER TABLE match_review
    DROP CONSTRAINT match_review_one_per_pair,
    DROP CONSTRAINT match_review_two_records,
    DROP COLUMN left_source_patient_id,
    DROP COLUMN right_source_patient_id;

INSERT INTO match_review (id, source_patient_id, candidate_source_patient_id, weight, probability, reason,
                          explanation, status, created_at, decided_by, decided_at)
OVERRIDING SYSTEM VALUE
SELECT r.id, r.source_patient_id, r.candidate_source_patient_id, r.weight, r.probability, r.reason,
       r.explanation, r.status, r.created_at, r.decided_by, r.decided_at
FROM match_review_duplicate d, jsonb_populate_record(NULL::match_review, d.item) r;

ALTER TABLE match_review
    ADD CONSTRAINT match_review_source_patient_id_candidate_source_patient_id_key
        UNIQUE (source_patient_id, candidate_source_patient_id);

DROP TABLE match_review_duplicate;
