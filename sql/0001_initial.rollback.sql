DROP TABLE progress_note, lab_result, service, medication, diagnosis, encounter_version, encounter,
    patient_link, master_patient, source_patient_version, source_patient, ingest_reject, ingest_batch,
    facility;
