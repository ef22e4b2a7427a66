-- A voucher login's cost in PostgreSQL, continued (issue 16: vouchers stay at least twice a stock
-- server's auth/s). voucher_state(), the rules given the usage, becomes one SQL expression the
-- planner inlines into the statement that calls it, instead of a PL/pgSQL function called per
-- login; radius_authorize() computes the voucher's state inside its one statement, where it
-- used to copy the voucher row into a variable and call voucher_state() after it. The rules
-- and their answers are unchanged (tests/radius/test_lifecycle.py, tests/test_voucher_status.py),
-- and they stay in one place: the API's voucher_state(voucher, days) reads the usage and calls
-- the same function.

-- What voucher_state() returns (it returned a record of OUT parameters; a named type lets the
-- planner inline it).
CREATE TYPE voucher_status AS (state text, reason text, used_seconds bigint, used_bytes bigint,
                               seconds_left bigint, bytes_left bigint, usable_until timestamptz);

DROP FUNCTION voucher_state(voucher, integer, bigint, bigint);
-- What a voucher has used and has left, and the state that follows, given its usage. One
-- SELECT of expressions, LANGUAGE sql, not SECURITY DEFINER, no SET: so the planner inlines it
-- into its caller (tests/test_migrations.py checks that it still does).
CREATE FUNCTION voucher_state(vc voucher, p_unused_days integer,
                              p_used_seconds bigint, p_used_bytes bigint)
RETURNS voucher_status
LANGUAGE sql STABLE AS $$
SELECT ROW(
    -- state
    CASE WHEN vc.status = 'revoked' THEN 'revoked'
         -- Unused: the clock has not started; it must be first used within p_unused_days.
         WHEN vc.first_used_at IS NULL AND vc.issued_at + make_interval(days => p_unused_days) <= now() THEN 'expired'
         WHEN vc.first_used_at IS NOT NULL AND vc.expires_at <= now() THEN 'expired'
         WHEN vc.time_quota_seconds IS NOT NULL AND p_used_seconds >= vc.time_quota_seconds THEN 'exhausted'
         WHEN vc.data_quota_bytes IS NOT NULL AND p_used_bytes >= vc.data_quota_bytes THEN 'exhausted'
         WHEN vc.first_used_at IS NULL THEN 'unused'
         ELSE 'active' END,
    -- reason, in the same order
    CASE WHEN vc.status = 'revoked' THEN 'Voucher revoked'
         WHEN vc.first_used_at IS NULL AND vc.issued_at + make_interval(days => p_unused_days) <= now()
              THEN format('Voucher expired: not used within %s days of issue', p_unused_days)
         WHEN vc.first_used_at IS NOT NULL AND vc.expires_at <= now() THEN 'Voucher expired'
         WHEN vc.time_quota_seconds IS NOT NULL AND p_used_seconds >= vc.time_quota_seconds THEN 'Time quota used up'
         WHEN vc.data_quota_bytes IS NOT NULL AND p_used_bytes >= vc.data_quota_bytes THEN 'Data quota used up' END,
    p_used_seconds,
    p_used_bytes,
    -- seconds_left: the plan's duration (unused) or until expiry, and no more than the time quota left
    CASE WHEN vc.time_quota_seconds IS NULL
         THEN CASE WHEN vc.first_used_at IS NULL THEN vc.duration_seconds
                   ELSE GREATEST(ceil(extract(epoch FROM vc.expires_at - now())), 0)::bigint END
         ELSE LEAST(CASE WHEN vc.first_used_at IS NULL THEN vc.duration_seconds
                         ELSE GREATEST(ceil(extract(epoch FROM vc.expires_at - now())), 0)::bigint END,
                    GREATEST(vc.time_quota_seconds - p_used_seconds, 0)) END,
    -- bytes_left
    CASE WHEN vc.data_quota_bytes IS NOT NULL THEN GREATEST(vc.data_quota_bytes - p_used_bytes, 0) END,
    -- usable_until
    CASE WHEN vc.first_used_at IS NULL THEN vc.issued_at + make_interval(days => p_unused_days)
         ELSE vc.expires_at END
)::voucher_status
$$;

-- What the API calls: the usage from radacct, then the rules above (inlined here too).
CREATE OR REPLACE FUNCTION voucher_state(vc voucher, p_unused_days integer,
                                         OUT state text, OUT reason text,
                                         OUT used_seconds bigint, OUT used_bytes bigint,
                                         OUT seconds_left bigint, OUT bytes_left bigint,
                                         OUT usable_until timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    secs bigint;
    bytes bigint;
BEGIN
    SELECT COALESCE(sum(a.acctsessiontime), 0)::bigint,
           COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)), 0)::bigint
      INTO secs, bytes
      FROM radacct a WHERE a.voucher_id = vc.id;
    SELECT (voucher_state(vc, p_unused_days, secs, bytes)).*
      INTO state, reason, used_seconds, used_bytes, seconds_left, bytes_left, usable_until;
END
$$;

-- As in 0023, but the voucher's state is computed in the one statement (voucher_state()
-- inlined; the voucher row is no longer copied into a variable and passed to a call), and the
-- test for "another device online" is made once per session instead of once per aggregate.
CREATE OR REPLACE FUNCTION radius_authorize(p_router_id integer, p_src text, p_username text, p_mac text,
                                 p_service text)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer,
               o_new_device integer, o_blocked text, o_subscriber_id bigint, o_framed_ip text,
               o_framed_pool text, o_address_list text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_mac text := upper(p_mac);
    x record;
    s record;
    v_blocked timestamptz;
    v_others bigint;
    v_devices bigint;
BEGIN
    -- FreeRADIUS calls radius_authorize_subscriber() itself now; this stays for a server still on
    -- the older configuration while an upgrade rolls out.
    IF p_service IN ('ppp', 'dhcp') THEN
        RETURN QUERY SELECT * FROM radius_authorize_subscriber(p_router_id, p_src, p_username,
                                                               p_service);
        RETURN;
    END IF;
    SELECT r.tenant_id, r.auth_blocked_until, tn.acct_interim_interval AS interim,
           tn.guess_window_seconds, tn.fair_usage_states,
           v.id AS voucher_id, v.plan_id, v.rate_limit, v.mac_binding, v.device_limit,
           CASE WHEN v.first_used_at IS NULL THEN 1 ELSE 0 END AS activate,
           -- voucher_state() is inlined here: each field is just its own expression.
           (voucher_state(v, tn.unused_voucher_days, u.used_seconds, u.used_bytes)).reason,
           (voucher_state(v, tn.unused_voucher_days, u.used_seconds, u.used_bytes)).seconds_left,
           (voucher_state(v, tn.unused_voucher_days, u.used_seconds, u.used_bytes)).bytes_left,
           u.others_n, u.others_min, u.others_max,
           dv.voucher_id IS NOT NULL AS known
      INTO x
      FROM router r
      JOIN tenant tn ON tn.id = r.tenant_id
      -- Codes are stored upper-case; customers type them in any case.
      LEFT JOIN voucher v ON v.tenant_id = r.tenant_id AND v.code = upper(p_username)
      -- This device, by the primary key: a probe, not a pass over the voucher's devices.
      LEFT JOIN voucher_device dv ON dv.voucher_id = v.id AND dv.mac = v_mac
      LEFT JOIN LATERAL (
          -- Other devices online now (the same device logging in again is not one): how many
          -- sessions, and the least and greatest MAC, which say whether they are one device
          -- without a DISTINCT (a sort per login). The test is made once per session (OFFSET 0
          -- keeps the inner query whole, so it is not copied into each aggregate's FILTER).
          SELECT COALESCE(sum(o.acctsessiontime), 0)::bigint AS used_seconds,
                 COALESCE(sum(o.octets), 0)::bigint AS used_bytes,
                 count(*) FILTER (WHERE o.other) AS others_n,
                 min(o.callingstationid) FILTER (WHERE o.other) AS others_min,
                 max(o.callingstationid) FILTER (WHERE o.other) AS others_max
            FROM (SELECT a.acctsessiontime, a.callingstationid,
                         COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0) AS octets,
                         a.acctstoptime IS NULL AND a.callingstationid IS DISTINCT FROM v_mac
                           AND a.acctupdatetime > now() - session_grace(tn.acct_interim_interval) AS other
                    FROM radacct a WHERE a.voucher_id = v.id OFFSET 0) o) u ON true
     WHERE r.id = p_router_id AND r.ip_address = p_src::inet AND r.enabled AND tn.active;
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    o_tenant_id := x.tenant_id;
    IF x.auth_blocked_until > now() THEN
        -- A block may be running at this router (router.auth_blocked_until, kept by a trigger on
        -- auth_failure): this device's, or the router's while this device guessed lately.
        SELECT CASE WHEN fd.blocked_until > now() THEN fd.blocked_until
                    WHEN fr.blocked_until > now() AND fd.failures > 0
                         AND fd.window_start > now() - make_interval(secs => x.guess_window_seconds)
                    THEN fr.blocked_until END
          INTO v_blocked
          FROM auth_failure fd
          LEFT JOIN auth_failure fr ON fr.router_id = p_router_id AND fr.calling_station_id = '*'
         WHERE fd.router_id = p_router_id AND fd.calling_station_id = v_mac;
        IF v_blocked IS NOT NULL THEN
            -- Refused before the code is looked at, so a blocked guesser learns nothing from it.
            o_blocked := format('Too many wrong codes; try again in %s minute(s)',
                                ceil(extract(epoch FROM v_blocked - now()) / 60)::integer);
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    IF x.voucher_id IS NULL THEN
        o_deny_reason := 'Invalid voucher code';
        RETURN NEXT;
        RETURN;
    END IF;

    o_voucher_id := x.voucher_id;
    -- The router hashes (CHAP) what the customer typed, so hand back the typed form.
    o_password := p_username;
    o_rate_limit := x.rate_limit;
    -- Fair usage: while a rule's threshold is crossed (on this router or across the ISP), its
    -- rate replaces the plan's; the most demanding crossed threshold wins. Looked up only while
    -- the ISP has a rule crossed (tenant.fair_usage_states, kept by a trigger).
    IF x.fair_usage_states > 0 THEN
        SELECT f.rate_limit INTO s FROM fair_usage_state f
         WHERE f.tenant_id = x.tenant_id
           AND (f.router_id IS NULL OR f.router_id = p_router_id)
           AND (f.plan_id IS NULL OR f.plan_id = x.plan_id)
         ORDER BY f.threshold DESC LIMIT 1;
        IF FOUND THEN
            o_rate_limit := s.rate_limit;
        END IF;
    END IF;
    o_interim := x.interim;
    o_activate := x.activate;
    o_new_device := CASE WHEN x.known THEN 0 ELSE 1 END;

    o_deny_reason := x.reason;
    IF o_deny_reason IS NULL AND x.mac_binding AND NOT x.known THEN
        -- A new device on a MAC-bound voucher (rare): are its device slots all taken?
        SELECT count(*) INTO v_devices FROM voucher_device dv WHERE dv.voucher_id = x.voucher_id;
        IF v_devices >= x.device_limit THEN
            o_deny_reason := 'Voucher is locked to the device(s) that first used it';
        END IF;
    END IF;
    v_others := CASE WHEN x.others_n = 0 THEN 0 WHEN x.others_min = x.others_max THEN 1 END;
    IF v_others IS NULL THEN
        -- Two or more other devices online (rare): count them exactly.
        SELECT count(DISTINCT a.callingstationid) INTO v_others
          FROM radacct a
         WHERE a.voucher_id = x.voucher_id AND a.acctstoptime IS NULL
           AND a.callingstationid IS DISTINCT FROM v_mac
           AND a.acctupdatetime > now() - session_grace(x.interim);
    END IF;
    IF o_deny_reason IS NULL AND v_others >= x.device_limit THEN
        o_deny_reason := format('Device limit reached: %s device(s) already online', v_others);
    END IF;

    o_session_timeout := GREATEST(x.seconds_left, 1);
    IF x.bytes_left IS NOT NULL THEN
        -- Mikrotik-Total-Limit is 32-bit: the rest goes in Mikrotik-Total-Limit-Gigawords.
        o_total_limit := x.bytes_left & 4294967295;
        o_total_limit_gigawords := x.bytes_left >> 32;
    END IF;
    RETURN NEXT;
END
$$;
