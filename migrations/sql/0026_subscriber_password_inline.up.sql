-- A subscriber's password, decrypted inside the statement that needs it (issue 16: a PPPoE login
-- costs no more than a voucher's). subscriber_password() becomes one SQL expression the planner
-- inlines into radius_authorize_subscriber()'s assignment, where it was a PL/pgSQL function with
-- its own SET search_path and an EXCEPTION block (a subtransaction) on every login: ~9 us a call
-- from PL/pgSQL, ~3 us inlined.
--
-- The key is still the GUC FreeRADIUS sets on its own connections (queries.conf, open_query) and
-- never stored. Without it (any other connection; '' is how a connection that once set it locally
-- sees it afterwards) the answer is still NULL. With a wrong key the decryption is now an error,
-- where it was NULL: a key that does not match the stored passwords (a redeployed server with a
-- new key, a typo) made every subscriber's login a wrong password, counted against their account
-- until it was blocked (0025). Now FreeRADIUS's query fails, the
-- login is refused with "Service temporarily unavailable", nothing is counted, and the error is
-- in PostgreSQL's log.
--
-- No SECURITY DEFINER and no SET, or the planner would not inline it; EXECUTE stays revoked from
-- PUBLIC, so only the owner's functions (radius_authorize_subscriber(), SECURITY DEFINER) can
-- call it.
CREATE OR REPLACE FUNCTION subscriber_password(p_encrypted bytea) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT convert_from(decrypt_iv(substring(p_encrypted FROM 17),
                               decode(NULLIF(current_setting('mnetifi.password_key', true), ''),
                                      'hex'),
                               substring(p_encrypted FOR 16), 'aes-cbc/pad:pkcs'), 'UTF8')
$$;
