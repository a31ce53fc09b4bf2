-- Master ids that keep their meaning, and every steward's change to identities as one history.
--
-- `retired_identity_record`: the records a retired identity held when it was left without any. A
-- retired id answers with the identities those records are in now (all of them: if they went to
-- several, it says so); `master_patient.merged_into` names that identity when there is exactly
-- one, and is null when they scattered. A retired id comes back only with those same records
-- (an undone merge, a record returning to the id it came from), never with someone else's.
--
-- `identity_event`: a steward's change to identities (a relink, a split, a review decision or its
-- undoing, a merge or its undoing): who, when, why, the identities and records involved, and the
-- identities as they were before and after. Append-only: the one change allowed is writing the
-- outcome (`after`, and the identities and records it involved) in the transaction that made the
-- event, which must do so. The links an event wrote name it (`patient_link.event_id`); links
-- without one are the engine's (a load, a batch re-link).
-- depends: 0011_one_review_per_pair

CREATE TABLE retired_identity_record (
    master_patient_id   bigint NOT NULL REFERENCES master_patient (id),
    source_patient_id   bigint NOT NULL REFERENCES source_patient (id),
    PRIMARY KEY (master_patient_id, source_patient_id)
);
CREATE INDEX retired_identity_record_by_record ON retired_identity_record (source_patient_id);

-- The identities retired so far: the records whose links to them were superseded last.
INSERT INTO retired_identity_record (master_patient_id, source_patient_id)
SELECT DISTINCT m.id, l.source_patient_id
FROM master_patient m
JOIN patient_link l ON l.master_patient_id = m.id
WHERE m.retired_at IS NOT NULL
  AND l.superseded_at = (SELECT max(x.superseded_at) FROM patient_link x WHERE x.master_patient_id = m.id);

UPDATE master_patient m SET merged_into = went.destination
FROM (
    SELECT r.master_patient_id AS id,
           CASE WHEN count(DISTINCT l.master_patient_id) = 1 THEN min(l.master_patient_id) END AS destination
    FROM retired_identity_record r
    JOIN patient_link l ON l.source_patient_id = r.source_patient_id AND l.superseded_at IS NULL
    GROUP BY r.master_patient_id
) went
WHERE m.id = went.id AND m.merged_into IS DISTINCT FROM went.destination;

CREATE TABLE identity_event (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL
                        CHECK (kind IN ('relink', 'split', 'review_decision', 'review_undo', 'merge', 'merge_undo')),
    actor               text NOT NULL,
    reason              text NOT NULL CHECK (char_length(btrim(reason)) BETWEEN 1 AND 500),
    occurred_at         timestamptz NOT NULL DEFAULT now(),
    master_patient_ids  bigint[] NOT NULL,
    source_patient_ids  bigint[] NOT NULL,
    review_id           bigint,  -- the review item decided (match_review.id)
    undoes_event_id     bigint UNIQUE REFERENCES identity_event (id),
    citizen_id_override boolean NOT NULL DEFAULT false,
    before              jsonb NOT NULL,
    after               jsonb
);
CREATE INDEX identity_event_by_master ON identity_event USING gin (master_patient_ids);
CREATE INDEX identity_event_by_review ON identity_event (review_id) WHERE review_id IS NOT NULL;

CREATE FUNCTION identity_event_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.after IS NULL AND NEW.after IS NOT NULL
       AND to_jsonb(NEW) - ARRAY['after', 'master_patient_ids', 'source_patient_ids']
           = to_jsonb(OLD) - ARRAY['after', 'master_patient_ids', 'source_patient_ids'] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'identity_event is append-only';
END;
$$;
CREATE TRIGGER identity_event_append_only BEFORE UPDATE OR DELETE ON identity_event
    FOR EACH ROW EXECUTE FUNCTION identity_event_is_append_only();

CREATE FUNCTION identity_event_is_complete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM identity_event WHERE id = NEW.id AND after IS NULL) THEN
        RAISE EXCEPTION 'identity event % was not completed in its transaction', NEW.id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER identity_event_complete AFTER INSERT ON identity_event
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_event_is_complete();

ALTER TABLE patient_link ADD COLUMN event_id bigint REFERENCES identity_event (id);
CREATE INDEX patient_link_by_event ON patient_link (event_id) WHERE event_id IS NOT NULL;
-- An identity's history reads every link it ever had, not only its current ones.
CREATE INDEX patient_link_by_master_ever ON patient_link (master_patient_id);
-- ... and every link of a record, the way to its links' successors.
CREATE INDEX patient_link_by_record ON patient_link (source_patient_id, id);
