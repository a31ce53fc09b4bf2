DROP INDEX patient_link_by_record;
DROP INDEX patient_link_by_master_ever;
ALTER TABLE patient_link DROP COLUMN event_id;
DROP TABLE identity_event;
DROP FUNCTION identity_event_is_complete();
DROP FUNCTION identity_event_is_append_only();
DROP TABLE retired_identity_record;
