-- A voucher login's cost in PostgreSQL (issue 16: vouchers stay at least twice a stock server's
-- auth/s). radius_authorize() answers as in 0020; what a returning customer's login reads is
-- made cheaper:
--   * guessing blocks: auth_failure is looked at only while a block may be running at the router
--     (router.auth_blocked_until, the latest blocked_until of its rows, kept by a trigger), not
--     by two probes on every login;
--   * the device: one primary-key probe of voucher_device (this voucher, this MAC) instead of an
--     aggregate over the voucher's devices, which are counted only when a new device comes to a
--     MAC-bound voucher;
--   * other devices online: counted without a DISTINCT (a sort on every login) unless two or
--     more differ;
--   * fair usage: the crossed rules are looked up only while the ISP has any
--     (tenant.fair_usage_states, a count kept by a trigger on fair_usage_state).
-- The triggers serve every writer (cascades included) and can only err towards looking: a
-- TRUNCATE leaves a count too high or a time too late, which costs a lookup, never a wrong answer.
-- FreeRADIUS also runs it as a statement prepared once per connection
-- (freeradius-config/mods-config/sql/main/postgresql/queries.conf), not parsed and planned per login.

ALTER TABLE router ADD COLUMN auth_blocked_until timestamptz;
UPDATE router r SET auth_blocked_until = b.until
  FROM (SELECT router_id, max(blocked_until) AS until FROM auth_failure GROUP BY router_id) b
 WHERE b.router_id = r.id AND b.until IS NOT NULL;

CREATE FUNCTION auth_failure_blocks_router() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE router SET auth_blocked_until = NEW.blocked_until
     WHERE id = NEW.router_id
       AND (auth_blocked_until IS NULL OR auth_blocked_until < NEW.blocked_until);
    RETURN NULL;
END
$$;
-- Only when a block is set (rare): a wrong code that blocks nothing writes no router row.
CREATE TRIGGER auth_failure_blocks_router AFTER INSERT OR UPDATE OF blocked_until
    ON auth_failure FOR EACH ROW WHEN (NEW.blocked_until IS NOT NULL)
    EXECUTE FUNCTION auth_failure_blocks_router();

ALTER TABLE tenant ADD COLUMN fair_usage_states integer NOT NULL DEFAULT 0;
UPDATE tenant t SET fair_usage_states = c.n
  FROM (SELECT tenant_id, count(*) AS n FROM fair_usage_state GROUP BY tenant_id) c
 WHERE c.tenant_id = t.id;

-- Increments under the tenant row's lock: concurrent writers cannot lose one.
CREATE FUNCTION fair_usage_states_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE tenant SET fair_usage_states = fair_usage_states - 1 WHERE id = OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE tenant SET fair_usage_states = fair_usage_states + 1 WHERE id = NEW.tenant_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER fair_usage_states_count AFTER INSERT OR DELETE OR UPDATE OF tenant_id
    ON fair_usage_state FOR EACH ROW EXECUTE FUNCTION fair_usage_states_count();

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
    vc voucher;
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
           tn.unused_voucher_days AS unused_days, tn.guess_window_seconds, tn.fair_usage_states,
           v AS vc, u.used_seconds, u.used_bytes, u.others_n, u.others_min, u.others_max,
           dv.voucher_id IS NOT NULL AS known
      INTO x
      FROM router r
      JOIN tenant tn ON tn.id = r.tenant_id
      -- Codes are stored upper-case; customers type them in any case.
      LEFT JOIN voucher v ON v.tenant_id = r.tenant_id AND v.code = upper(p_username)
      -- This device, by the primary key: a probe, not a pass over the voucher's devices.
      LEFT JOIN voucher_device dv ON dv.voucher_id = v.id AND dv.mac = v_mac
      LEFT JOIN LATERAL (
          SELECT COALESCE(sum(a.acctsessiontime), 0)::bigint AS used_seconds,
                 COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)), 0)::bigint AS used_bytes,
                 -- Other devices online now (the same device logging in again is not one):
                 -- how many sessions, and the least and greatest MAC, which say whether they
                 -- are one device without a DISTINCT (a sort per login).
                 count(*) FILTER (WHERE a.acctstoptime IS NULL AND a.callingstationid IS DISTINCT FROM v_mac
                       AND a.acctupdatetime > now() - session_grace(tn.acct_interim_interval)) AS others_n,
                 min(a.callingstationid) FILTER (WHERE a.acctstoptime IS NULL AND a.callingstationid IS DISTINCT FROM v_mac
                       AND a.acctupdatetime > now() - session_grace(tn.acct_interim_interval)) AS others_min,
                 max(a.callingstationid) FILTER (WHERE a.acctstoptime IS NULL AND a.callingstationid IS DISTINCT FROM v_mac
                       AND a.acctupdatetime > now() - session_grace(tn.acct_interim_interval)) AS others_max
            FROM radacct a WHERE a.voucher_id = v.id) u ON true
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
    -- Fair usage: while a rule's threshold is crossed (on this router or across the ISP), its
    -- rate replaces the plan's; the most demanding crossed threshold wins. Looked up only while
    -- the ISP has a rule crossed (tenant.fair_usage_states, kept by a trigger).
    IF x.fair_usage_states > 0 THEN
        SELECT f.rate_limit INTO s FROM fair_usage_state f
         WHERE f.tenant_id = x.tenant_id
           AND (f.router_id IS NULL OR f.router_id = p_router_id)
           AND (f.plan_id IS NULL OR f.plan_id = vc.plan_id)
         ORDER BY f.threshold DESC LIMIT 1;
        IF FOUND THEN
            o_rate_limit := s.rate_limit;
        END IF;
    END IF;
    o_interim := x.interim;
    o_activate := CASE WHEN vc.first_used_at IS NULL THEN 1 ELSE 0 END;
    o_new_device := CASE WHEN x.known THEN 0 ELSE 1 END;

    s := voucher_state(vc, x.unused_days, x.used_seconds, x.used_bytes);
    o_deny_reason := s.reason;
    IF o_deny_reason IS NULL AND vc.mac_binding AND NOT x.known THEN
        -- A new device on a MAC-bound voucher (rare): are its device slots all taken?
        SELECT count(*) INTO v_devices FROM voucher_device dv WHERE dv.voucher_id = vc.id;
        IF v_devices >= vc.device_limit THEN
            o_deny_reason := 'Voucher is locked to the device(s) that first used it';
        END IF;
    END IF;
    v_others := CASE WHEN x.others_n = 0 THEN 0 WHEN x.others_min = x.others_max THEN 1 END;
    IF v_others IS NULL THEN
        -- Two or more other devices online (rare): count them exactly.
        SELECT count(DISTINCT a.callingstationid) INTO v_others
          FROM radacct a
         WHERE a.voucher_id = vc.id AND a.acctstoptime IS NULL
           AND a.callingstationid IS DISTINCT FROM v_mac
           AND a.acctupdatetime > now() - session_grace(x.interim);
    END IF;
    IF o_deny_reason IS NULL AND v_others >= vc.device_limit THEN
        o_deny_reason := format('Device limit reached: %s device(s) already online', v_others);
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

-- FreeRADIUS calls the subscriber half directly for PPP and DHCP requests (a statement prepared
-- per connection for each kind), instead of through radius_authorize()'s nested set-returning
-- call: it runs as its owner, as radius_authorize() does, and may be called by the same role,
-- which could already reach it through radius_authorize() with the same arguments.
ALTER FUNCTION radius_authorize_subscriber(integer, text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;
GRANT EXECUTE ON FUNCTION radius_authorize_subscriber(integer, text, text, text) TO mnetifi_radius;
