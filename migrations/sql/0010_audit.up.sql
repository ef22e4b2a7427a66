-- The audit log is append-only, enforced here rather than by privileges: the application connects
-- as the database's owner (a superuser on our stacks), which no GRANT/REVOKE can restrain, but a
-- trigger fires for every role. Removing history needs DDL (ALTER TABLE ... DISABLE TRIGGER),
-- which only the operator's purge command (`mnetifi audit purge`) or a migration does.
CREATE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_no_change
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
