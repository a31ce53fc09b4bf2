ALTER TABLE source_patient DROP CONSTRAINT source_patient_field_lengths;
ALTER TABLE encounter DROP CONSTRAINT encounter_field_lengths;
ALTER TABLE diagnosis DROP CONSTRAINT diagnosis_field_lengths;
ALTER TABLE medication DROP CONSTRAINT medication_field_lengths;
ALTER TABLE service DROP CONSTRAINT service_field_lengths;
ALTER TABLE lab_result DROP CONSTRAINT lab_result_field_lengths;
ALTER TABLE progress_note DROP CONSTRAINT progress_note_field_lengths;
