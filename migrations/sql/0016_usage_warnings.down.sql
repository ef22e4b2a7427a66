-- Back to 0008's accounting: without the usage check (the function is re-created from 0002 by
-- the migration, then given 0008's owner rights and grants again).
DROP FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                text, text, text, text, text, text, text, text, text, text);
DROP FUNCTION voucher_usage_check(integer, bigint);
