-- A master identity left without records (merged by a re-link, emptied by a steward) is retired,
-- not deleted: its id may be stored in a doctor's system. `merged_into` names the identity most of
-- its records went to, so a read of the old id finds the patient; it is null when they scattered.
-- An identity that gets records back (a steward's undo) is active again.
-- depends: 0004_matching

ALTER TABLE master_patient
    ADD COLUMN retired_at timestamptz,
    ADD COLUMN merged_into bigint REFERENCES master_patient (id),
    ADD CONSTRAINT master_patient_merged_only_when_retired CHECK (merged_into IS NULL OR retired_at IS NOT NULL),
    ADD CONSTRAINT master_patient_retired_holds_no_citizen_id CHECK (retired_at IS NULL OR citizen_id IS NULL);
