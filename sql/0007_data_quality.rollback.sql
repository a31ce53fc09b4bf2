DROP INDEX ingest_batch_by_extract_date;
ALTER TABLE ingest_batch
    DROP COLUMN extract_date,
    DROP COLUMN declared_count,
    DROP COLUMN visits,
    DROP COLUMN visits_with_citizen_id;
DROP TABLE ingest_flag;
ALTER TABLE source_patient DROP COLUMN flags;
