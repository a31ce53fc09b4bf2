-- Field lengths: every text a facility sends is bounded in the database as in the loaders
-- (loaders/limits.py: the XML 130 tables' own lengths, with a generous bound where they give none),
-- so nothing unbounded reaches a read, whatever path wrote the row. A CHECK per table rather than
-- varchar(n): the columns keep their type, and the bound is one readable list per table.
-- depends: 0008_batches_per_facility

ALTER TABLE source_patient ADD CONSTRAINT source_patient_field_lengths CHECK (
        char_length(local_id) <= 100
        AND char_length(full_name) <= 255
        AND char_length(old_id_number) <= 50
        AND char_length(passport_number) <= 50
        AND char_length(social_insurance_number) <= 50
        AND char_length(phone) <= 50
        AND char_length(address_text) <= 1024
        AND char_length(province_code) <= 50
        AND char_length(district_code) <= 50
        AND char_length(commune_code) <= 50
        AND char_length(nationality_code) <= 50
        AND char_length(ethnicity_code) <= 50
        AND char_length(occupation_code) <= 50
        AND cardinality(insurance_cards) <= 100 AND length(array_to_string(insurance_cards, '')) <= 100 * 50
);

ALTER TABLE encounter ADD CONSTRAINT encounter_field_lengths CHECK (
        char_length(encounter_key) <= 100
        AND char_length(record_number) <= 100
        AND char_length(visit_type) <= 50
        AND char_length(referred_from) <= 50
        AND char_length(referred_to) <= 50
        AND char_length(referral_paper) <= 100
        AND char_length(admission_diagnosis_text) <= 4096
        AND char_length(discharge_diagnosis_text) <= 4096
        AND cardinality(departments) <= 100 AND length(array_to_string(departments, '')) <= 100 * 50
        AND cardinality(procedures) <= 100 AND length(array_to_string(procedures, '')) <= 100 * 50
);

ALTER TABLE diagnosis ADD CONSTRAINT diagnosis_field_lengths CHECK (
        char_length(code) <= 50
        AND char_length(text) <= 4096
);

ALTER TABLE medication ADD CONSTRAINT medication_field_lengths CHECK (
        char_length(code) <= 255
        AND char_length(name) <= 1024
        AND char_length(strength) <= 1024
        AND char_length(dosage) <= 1024
        AND char_length(route) <= 1024
        AND char_length(unit) <= 1024
);

ALTER TABLE service ADD CONSTRAINT service_field_lengths CHECK (
        char_length(code) <= 255
        AND char_length(supply_code) <= 255
        AND char_length(name) <= 1024
);

ALTER TABLE lab_result ADD CONSTRAINT lab_result_field_lengths CHECK (
        char_length(service_code) <= 255
        AND char_length(code) <= 255
        AND char_length(name) <= 1024
        AND char_length(value) <= 1024
        AND char_length(unit) <= 1024
        AND char_length(description) <= 4096
        AND char_length(conclusion) <= 4096
);

ALTER TABLE progress_note ADD CONSTRAINT progress_note_field_lengths CHECK (
        char_length(text) <= 65536
        AND char_length(stage) <= 65536
        AND char_length(consultation) <= 65536
        AND char_length(surgery) <= 65536
        AND char_length(author) <= 255
);
