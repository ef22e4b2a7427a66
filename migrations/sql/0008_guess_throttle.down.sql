-- 0007's radius_authorize() and 0002's radius_post_auth() are re-created by the migration after
-- this file runs. The mnetifi_radius role is cluster-wide (other databases may use it), so it is
-- only stripped of what it was given here, not dropped.
REVOKE SELECT ON nas FROM mnetifi_radius;
REVOKE EXECUTE ON FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                             text, text, text, text, text, text, text, text, text, text) FROM mnetifi_radius;
ALTER FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                 text, text, text, text, text, text, text, text, text, text)
    SECURITY INVOKER RESET search_path;
GRANT EXECUTE ON FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                            text, text, text, text, text, text, text, text, text, text) TO PUBLIC;
DROP FUNCTION radius_post_auth(text, text, text, text, text, text, text, text, text, text, text, text);
DROP FUNCTION radius_authorize(integer, text, text, text);
DROP FUNCTION voucher_devices_holding(voucher, text);
DROP FUNCTION prune_auth_failures();
DROP FUNCTION auth_failure_count(integer, integer, text, integer, integer, integer);
DROP TABLE auth_failure;
ALTER TABLE tenant
    DROP CONSTRAINT ck_tenant_guess_limits,
    DROP COLUMN guess_max_failures,
    DROP COLUMN guess_window_seconds,
    DROP COLUMN guess_block_seconds,
    DROP COLUMN router_guess_max_failures;
