ALTER TABLE radacct DROP COLUMN applied_rate;
CREATE OR REPLACE FUNCTION radius_authorize(p_router_id integer, p_src text, p_username text, p_mac text)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer,
               o_new_device integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_mac text := upper(p_mac);
    x record;
    vc voucher;
    s record;
BEGIN
    SELECT r.tenant_id, tn.acct_interim_interval AS interim, tn.unused_voucher_days AS unused_days,
           v AS vc, u.used_seconds, u.used_bytes, u.others,
           COALESCE(d.known, false) AS known, d.devices
      INTO x
      FROM router r
      JOIN tenant tn ON tn.id = r.tenant_id
      -- Codes are stored upper-case; customers type them in any case.
      LEFT JOIN voucher v ON v.tenant_id = r.tenant_id AND v.code = upper(p_username)
      LEFT JOIN LATERAL (
          SELECT COALESCE(sum(a.acctsessiontime), 0)::bigint AS used_seconds,
                 COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)), 0)::bigint AS used_bytes,
                 -- Other devices online now; the same device logging in again is not one.
                 count(DISTINCT a.callingstationid) FILTER (
                     WHERE a.acctstoptime IS NULL AND a.callingstationid IS DISTINCT FROM v_mac
                       AND a.acctupdatetime > now() - session_grace(tn.acct_interim_interval)) AS others
            FROM radacct a WHERE a.voucher_id = v.id) u ON true
      LEFT JOIN LATERAL (
          SELECT bool_or(dv.mac = v_mac) AS known, count(*) AS devices
            FROM voucher_device dv WHERE dv.voucher_id = v.id) d ON true
     WHERE r.id = p_router_id AND r.ip_address = p_src::inet AND r.enabled AND tn.active;
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    o_tenant_id := x.tenant_id;
    vc := x.vc;
    IF vc.id IS NULL THEN
        o_deny_reason := 'Invalid voucher code';
        RETURN NEXT;
        RETURN;
    END IF;

    o_voucher_id := vc.id;
    -- The router hashes (CHAP) what the customer typed, so hand back the typed form.
    o_password := p_username;
    o_rate_limit := vc.rate_limit;
    o_interim := x.interim;
    o_activate := CASE WHEN vc.first_used_at IS NULL THEN 1 ELSE 0 END;
    o_new_device := CASE WHEN x.known THEN 0 ELSE 1 END;

    s := voucher_state(vc, x.unused_days, x.used_seconds, x.used_bytes);
    o_deny_reason := s.reason;
    IF o_deny_reason IS NULL AND vc.mac_binding AND NOT x.known AND x.devices >= vc.device_limit THEN
        o_deny_reason := 'Voucher is locked to the device(s) that first used it';
    END IF;
    IF o_deny_reason IS NULL AND x.others >= vc.device_limit THEN
        o_deny_reason := format('Device limit reached: %s device(s) already online', x.others);
    END IF;

    o_session_timeout := GREATEST(s.seconds_left, 1);
    IF s.bytes_left IS NOT NULL THEN
        -- Mikrotik-Total-Limit is 32-bit: the rest goes in Mikrotik-Total-Limit-Gigawords.
        o_total_limit := s.bytes_left & 4294967295;
        o_total_limit_gigawords := s.bytes_left >> 32;
    END IF;
    RETURN NEXT;
END
$$;
DROP TABLE fair_usage_state;
DROP TABLE fair_usage_rule;
