DROP FUNCTION radius_authorize_subscriber(integer, text, text, text, text);
DROP FUNCTION radius_password_failure(text, text, text);
DROP FUNCTION subscriber_known_device(bigint, text);
ALTER TABLE subscriber DROP COLUMN login_blocked_until;
DROP TABLE subscriber_auth_failure;
DROP FUNCTION prune_auth_failures();
