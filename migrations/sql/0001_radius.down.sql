DROP FUNCTION IF EXISTS radius_post_auth(text, text, text, text, text, text, text, text, text, text);
DROP FUNCTION IF EXISTS radius_authorize(integer, text, text, text);
DROP VIEW IF EXISTS nas;
