DROP TRIGGER identity_event_not_truncated ON identity_event;
DROP TRIGGER patient_access_not_truncated ON patient_access;
DROP TRIGGER patient_link_not_truncated ON patient_link;
DROP FUNCTION history_is_not_truncated();
DROP TRIGGER patient_link_history ON patient_link;
DROP FUNCTION patient_link_is_history();
