-- Nothing lost at the gate. A suspect field (malformed; an identifier inconsistent with the
-- record, or repaired) no longer refuses its visit: the record is stored and the field flagged, on the
-- source patient (its current flags) and per batch (ingest_flag, beside ingest_reject), so the
-- per-facility quality report reads what each night brought. Each batch also keeps the date of
-- the extract it carries (the night it covers, whenever it was received), the count the file
-- declared, and how many of its visits carry a valid citizen ID.
-- depends: 0006_blocking_keys_bytewise

ALTER TABLE source_patient ADD COLUMN flags jsonb NOT NULL DEFAULT '[]'::jsonb;

CREATE TABLE ingest_flag (
    batch_id        bigint NOT NULL REFERENCES ingest_batch (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    ordinal         smallint NOT NULL,
    field           text NOT NULL,  -- as the facility names it: SO_CCCD, XML2 row 3 NGAY_YL
    identifier      text CHECK (identifier IN ('person_id', 'insurance_card', 'referral_facility')),
    kind            text NOT NULL CHECK (kind IN ('malformed', 'inconsistent', 'repaired')),
    reason          text NOT NULL,
    local_id        text,
    encounter_key   text,
    PRIMARY KEY (batch_id, position, ordinal)
);

ALTER TABLE ingest_batch
    ADD COLUMN extract_date date,
    ADD COLUMN declared_count integer,
    ADD COLUMN visits integer NOT NULL DEFAULT 0,
    ADD COLUMN visits_with_citizen_id integer NOT NULL DEFAULT 0;
CREATE INDEX ingest_batch_by_extract_date ON ingest_batch (facility_code, extract_date);
