ALTER TABLE stk_request DROP COLUMN list_price, DROP COLUMN promo_code_id;
DROP TABLE promo_code;
DROP TABLE portal_settings;
