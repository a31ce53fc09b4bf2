-- One review item per unordered pair of source records, whichever side found it and however often
-- matching runs (a load queued A->B, a batch re-link then B->A). The pair is stored normalised,
-- smaller id first (`left_source_patient_id`, `right_source_patient_id`, computed by the database
-- from the two records), and is unique; the item keeps the direction it was found in
-- (`source_patient_id` is the record the engine was linking), which its explanation's left/right
-- and its reason are written from.
--
-- Reversed duplicates already queued are merged into one item: the one whose decision is the
-- pair's standing decision (`match_constraint`), else a decided one (the latest), else the oldest.
-- The items removed are kept whole in `match_review_duplicate`, naming the item kept, so nothing a
-- steward did is lost (and the rollback puts them back).
-- depends: 0010_field_lengths

ALTER TABLE match_review
    ADD COLUMN left_source_patient_id bigint NOT NULL
        GENERATED ALWAYS AS (least(source_patient_id, candidate_source_patient_id)) STORED,
    ADD COLUMN right_source_patient_id bigint NOT NULL
        GENERATED ALWAYS AS (greatest(source_patient_id, candidate_source_patient_id)) STORED;

CREATE TABLE match_review_duplicate (
    id              bigint PRIMARY KEY,
    kept_review_id  bigint NOT NULL,  -- the item kept for the pair (match_review.id)
    item            jsonb NOT NULL,
    removed_at      timestamptz NOT NULL DEFAULT now()
);

WITH ranked AS (
    SELECT r.id,
           first_value(r.id) OVER pair AS kept,
           row_number() OVER pair AS position
    FROM match_review r
    LEFT JOIN match_constraint c
        ON c.left_source_patient_id = r.left_source_patient_id
       AND c.right_source_patient_id = r.right_source_patient_id
    WINDOW pair AS (
        PARTITION BY r.left_source_patient_id, r.right_source_patient_id
        ORDER BY coalesce(r.status IN ('same', 'different') AND c.same_person = (r.status = 'same')
                          AND c.decided_by = r.decided_by AND c.decided_at = r.decided_at, false) DESC,
                 (r.status <> 'open') DESC,
                 r.decided_at DESC NULLS LAST,
                 r.id
    )
)
INSERT INTO match_review_duplicate (id, kept_review_id, item)
SELECT r.id, ranked.kept, to_jsonb(r) - 'left_source_patient_id' - 'right_source_patient_id'
FROM match_review r JOIN ranked ON ranked.id = r.id
WHERE ranked.position > 1;

DELETE FROM match_review r USING match_review_duplicate d WHERE r.id = d.id;

ALTER TABLE match_review
    DROP CONSTRAINT match_review_source_patient_id_candidate_source_patient_id_key,
    ADD CONSTRAINT match_review_one_per_pair UNIQUE (left_source_patient_id, right_source_patient_id),
    ADD CONSTRAINT match_review_two_records CHECK (source_patient_id <> candidate_source_patient_id);
