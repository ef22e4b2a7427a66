DROP TRIGGER audit_event_no_truncate ON audit_event;
DROP TRIGGER audit_event_no_change ON audit_event;
DROP FUNCTION audit_event_append_only();
