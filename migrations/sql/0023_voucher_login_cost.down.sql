REVOKE EXECUTE ON FUNCTION radius_authorize_subscriber(integer, text, text, text) FROM mnetifi_radius;
ALTER FUNCTION radius_authorize_subscriber(integer, text, text, text) SECURITY INVOKER RESET search_path;
DROP TRIGGER fair_usage_states_count ON fair_usage_state;
DROP FUNCTION fair_usage_states_count();
ALTER TABLE tenant DROP COLUMN fair_usage_states;
DROP TRIGGER auth_failure_blocks_router ON auth_failure;
DROP FUNCTION auth_failure_blocks_router();
ALTER TABLE router DROP COLUMN auth_blocked_until;
