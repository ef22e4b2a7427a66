-- The previous radius_authorize() and radius_post_auth() are re-created from 0001_radius.up.sql
-- by the migration after this file runs.
DROP FUNCTION close_stale_sessions();
DROP FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                text, text, text, text, text, text, text, text, text, text);
DROP FUNCTION radius_post_auth(text, text, text, text, text, text, text, text, text, text, text, text);
DROP FUNCTION radius_authorize(integer, text, text, text);
DROP FUNCTION session_grace(integer);
DROP FUNCTION voucher_state(voucher, integer);
DROP FUNCTION voucher_state(voucher, integer, bigint, bigint);
DROP INDEX ix_radacct_voucher_sessions;
DROP INDEX ix_radacct_tenant_start;
DROP INDEX ix_radacct_open_by_voucher;
