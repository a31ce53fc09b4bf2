ALTER TABLE master_patient DROP COLUMN merged_into, DROP COLUMN retired_at;
