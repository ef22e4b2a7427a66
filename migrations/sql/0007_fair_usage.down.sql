-- 0002's radius_authorize() (without the fair-usage lookup) is re-created from
-- 0002_lifecycle.up.sql by the migration after this file runs.
ALTER TABLE radacct DROP COLUMN applied_rate;
DROP FUNCTION radius_authorize(integer, text, text, text);
DROP TABLE fair_usage_state;
DROP TABLE fair_usage_rule;
