-- Blocking keys are compared byte for byte (collation "C"): the key table is only ever joined
-- and grouped on equality, never shown in a language's order, and under a language collation
-- ("C.UTF-8", "vi_VN.UTF-8", ...) every comparison in its index builds, inserts, joins and sorts
-- goes through strcoll without abbreviated keys. Equal stays equal (deterministic collations
-- compare equal only byte-identical text), so candidates do not change.
-- depends: 0005_retired_identities

ALTER TABLE blocking_key
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN value TYPE text COLLATE "C";
