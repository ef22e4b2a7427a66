DROP FUNCTION subscriber_password(bytea);
