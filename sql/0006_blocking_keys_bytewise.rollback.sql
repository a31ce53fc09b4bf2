ALTER TABLE blocking_key
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN value TYPE text COLLATE "default";
