-- A file's content is loaded at most once per facility: the same bytes from two facilities are two
-- submissions. An empty extract (no records) is never a duplicate: its bytes (a zero-byte file, a
-- header alone) say nothing of the night it covers, and each quiet night is a batch of its own.
-- depends: 0007_data_quality

DROP INDEX ingest_batch_loaded_once;
CREATE UNIQUE INDEX ingest_batch_loaded_once ON ingest_batch (content_sha256, facility_code)
    WHERE status = 'loaded' AND records_in > 0;
