DROP TABLE payment_event;
DROP TABLE payment_grant;
DROP TABLE payment;
DROP TABLE stk_request;
ALTER TABLE voucher DROP CONSTRAINT ck_voucher_source, DROP COLUMN phone, DROP COLUMN source;
ALTER TABLE payment_settings DROP CONSTRAINT ck_payment_settings_c2b_api_version,
    DROP COLUMN c2b_registered_at, DROP COLUMN c2b_api_version, DROP COLUMN callback_token_enc;
