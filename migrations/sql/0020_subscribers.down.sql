-- Back to 0016: the migration then re-creates 0016's radius_accounting() and 0008's
-- radius_authorize() with its owner rights and grants.
DROP FUNCTION radius_authorize(integer, text, text, text, text);
DROP FUNCTION radius_authorize_subscriber(integer, text, text, text);
DROP FUNCTION subscriber_password(bytea);
DROP FUNCTION accounting_voucher(integer, text, text);
DROP FUNCTION accounting_subscriber(integer, text, text);
DROP INDEX ix_radacct_subscriber_sessions;
ALTER TABLE radacct DROP COLUMN subscriber_id;
DROP TABLE subscriber;
DROP TABLE subscriber_plan;
DROP TABLE ip_pool;
DROP INDEX ix_router_zone_id;
ALTER TABLE router DROP CONSTRAINT fk_router_tenant_id_zone, DROP COLUMN zone_id;
DROP TABLE staff_zone;
DROP TABLE zone;
ALTER TABLE tenant
    DROP CONSTRAINT ck_tenant_subscribers,
    DROP COLUMN subscriber_grace_days,
    DROP COLUMN subscriber_pool,
    DROP COLUMN expired_pool,
    DROP COLUMN expired_address_list;
DROP EXTENSION IF EXISTS pgcrypto;
