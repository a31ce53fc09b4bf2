DROP INDEX source_patient_by_social_insurance, source_patient_by_phone,
    source_patient_by_folded_name;
DROP FUNCTION fold_name(text);
DROP TABLE patient_access, api_token;
DROP FUNCTION patient_access_is_append_only();
