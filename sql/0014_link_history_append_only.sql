-- Link history is append-only, as the audit (0002) and identity events (0012) are: a link is
-- superseded (superseded_at, then the link that replaced it, superseded_by, each set once), never
-- rewritten or deleted. The application's role is denied the rest by grants (registry/db/roles.py);
-- this trigger holds for the schema's owner too. Row triggers do not see TRUNCATE: the statement
-- triggers below refuse it on every history table, for the owner too.
-- depends: 0013_icd10_catalogue

CREATE FUNCTION patient_link_is_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (OLD.superseded_at IS NULL OR NEW.superseded_at = OLD.superseded_at)
       AND (OLD.superseded_by IS NULL OR NEW.superseded_by = OLD.superseded_by)
       AND to_jsonb(NEW) - ARRAY['superseded_at', 'superseded_by']
           = to_jsonb(OLD) - ARRAY['superseded_at', 'superseded_by'] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'patient_link is history: a link is superseded, never rewritten or deleted';
END $$;

CREATE TRIGGER patient_link_history BEFORE UPDATE OR DELETE ON patient_link
    FOR EACH ROW EXECUTE FUNCTION patient_link_is_history();

CREATE FUNCTION history_is_not_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is history: it is never truncated', TG_TABLE_NAME;
END $$;

CREATE TRIGGER patient_link_not_truncated BEFORE TRUNCATE ON patient_link
    FOR EACH STATEMENT EXECUTE FUNCTION history_is_not_truncated();
CREATE TRIGGER patient_access_not_truncated BEFORE TRUNCATE ON patient_access
    FOR EACH STATEMENT EXECUTE FUNCTION history_is_not_truncated();
CREATE TRIGGER identity_event_not_truncated BEFORE TRUNCATE ON identity_event
    FOR EACH STATEMENT EXECUTE FUNCTION history_is_not_truncated();
