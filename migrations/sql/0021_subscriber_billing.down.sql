ALTER TABLE notification DROP COLUMN subscriber_id;
DELETE FROM coa_request WHERE reason IN ('renewed', 'suspended', 'resumed');
DROP INDEX ix_coa_request_subscriber_id;
ALTER TABLE coa_request
    DROP CONSTRAINT ck_coa_request_reason,
    ADD CONSTRAINT ck_coa_request_reason CHECK (reason IN ('admin', 'revoked', 'expired',
        'extended', 'fair_usage')),
    DROP COLUMN subscriber_id;
-- Bill pushes cannot exist without a plan before 0021: their payments keep their receipts.
UPDATE payment SET stk_request_id = NULL
 WHERE stk_request_id IN (SELECT id FROM stk_request WHERE plan_id IS NULL) AND receipt IS NOT NULL;
DELETE FROM subscriber_payment WHERE payment_id IN (
    SELECT p.id FROM payment p JOIN stk_request r ON r.id = p.stk_request_id WHERE r.plan_id IS NULL);
DELETE FROM payment WHERE stk_request_id IN (SELECT id FROM stk_request WHERE plan_id IS NULL);
DELETE FROM stk_request WHERE plan_id IS NULL;
DROP INDEX ix_stk_request_subscriber_id;
ALTER TABLE stk_request DROP COLUMN subscriber_id, ALTER COLUMN plan_id SET NOT NULL;
DROP TABLE subscriber_expiry;
DROP TABLE subscriber_payment;
DROP INDEX ix_subscriber_due_at;
ALTER TABLE subscriber DROP CONSTRAINT ck_subscriber_balance, DROP COLUMN balance;
ALTER TABLE tenant
    DROP CONSTRAINT ck_tenant_subscriber_billing,
    DROP COLUMN subscriber_reminder_days,
    DROP COLUMN subscriber_dunning_days,
    DROP COLUMN subscriber_dunning_stk;
