DROP FUNCTION voucher_state(voucher, integer);
DROP FUNCTION voucher_state(voucher, integer, bigint, bigint);
DROP TYPE voucher_status;
