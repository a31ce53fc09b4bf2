DROP INDEX ingest_batch_loaded_once;
CREATE UNIQUE INDEX ingest_batch_loaded_once ON ingest_batch (content_sha256) WHERE status = 'loaded';
