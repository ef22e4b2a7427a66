-- Hardening of the RADIUS path (issue 11): wrong voucher codes are throttled per device and per
-- router, two new devices cannot both take a voucher's last slot, and FreeRADIUS connects as a
-- role that can only call the functions it needs.

-- Per-ISP guess limits: a device (Calling-Station-Id on one router) is blocked after
-- guess_max_failures wrong codes within guess_window_seconds, for guess_block_seconds, doubled
-- on each further block (at most a day). A router that sees router_guess_max_failures wrong codes
-- within the window (MAC rotation) is "under attack" for the same growing block.
ALTER TABLE tenant
    ADD COLUMN guess_max_failures integer NOT NULL DEFAULT 5,
    ADD COLUMN guess_window_seconds integer NOT NULL DEFAULT 900,
    ADD COLUMN guess_block_seconds integer NOT NULL DEFAULT 300,
    ADD COLUMN router_guess_max_failures integer NOT NULL DEFAULT 30,
    ADD CONSTRAINT ck_tenant_guess_limits CHECK (
        guess_max_failures >= 1 AND router_guess_max_failures >= 1
        AND guess_window_seconds BETWEEN 60 AND 86400 AND guess_block_seconds BETWEEN 10 AND 86400);

-- Wrong codes per (router, device); calling_station_id '*' is the router as a whole. Written
-- only by radius_post_auth()'s reject path (which already makes a round trip), read by
-- radius_authorize() in the statement it already runs (two primary-key probes).
CREATE TABLE auth_failure (
    router_id integer NOT NULL
        CONSTRAINT fk_auth_failure_router_id_router REFERENCES router (id) ON DELETE CASCADE,
    calling_station_id text NOT NULL,
    tenant_id integer NOT NULL
        CONSTRAINT fk_auth_failure_tenant_id_tenant REFERENCES tenant (id) ON DELETE CASCADE,
    failures integer NOT NULL DEFAULT 0,
    window_start timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz,
    blocks integer NOT NULL DEFAULT 0,
    CONSTRAINT pk_auth_failure PRIMARY KEY (router_id, calling_station_id)
);
CREATE INDEX ix_auth_failure_tenant_id ON auth_failure (tenant_id);

-- Counts one wrong code for a device and for its router; returns nothing. Lock order is always
-- the device's row, then the router's, so concurrent rejects cannot deadlock.
CREATE FUNCTION auth_failure_count(p_tenant_id integer, p_router_id integer, p_key text,
                                   p_max integer, p_window integer, p_block integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f auth_failure;
BEGIN
    INSERT INTO auth_failure AS a (router_id, calling_station_id, tenant_id, failures)
    VALUES (p_router_id, p_key, p_tenant_id, 1)
    ON CONFLICT (router_id, calling_station_id) DO UPDATE
       SET failures = CASE WHEN a.window_start <= now() - make_interval(secs => p_window)
                           THEN 1 ELSE a.failures + 1 END,
           window_start = CASE WHEN a.window_start <= now() - make_interval(secs => p_window)
                               THEN now() ELSE a.window_start END
    RETURNING * INTO f;
    IF f.failures >= p_max THEN
        -- A growing block: the window restarts with it, so the next block needs as many again.
        UPDATE auth_failure
           SET blocked_until = now() + LEAST(make_interval(secs => p_block) * 2 ^ LEAST(f.blocks, 12),
                                             interval '1 day'),
               blocks = f.blocks + 1, failures = 0, window_start = now()
         WHERE router_id = p_router_id AND calling_station_id = p_key;
    END IF;
END
$$;

-- The worker's tidy-up: rows with nothing recent to remember (a block still counts for a day,
-- so a device that comes back gets a longer one).
CREATE FUNCTION prune_auth_failures() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM auth_failure
     WHERE GREATEST(window_start, COALESCE(blocked_until, window_start)) < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

DROP FUNCTION radius_authorize(integer, text, text, text);
-- As in 0007, plus o_blocked: the Reply-Message of a refused guesser, checked in the same
-- statement as everything else (no round trip of its own). A device is refused while its own
-- block runs; while its router is under attack, so is any device with a wrong code in the
-- current window. A device with no recent wrong code on that router, or another router, is
-- never refused by this.
CREATE FUNCTION radius_authorize(p_router_id integer, p_src text, p_username text, p_mac text)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer,
               o_new_device integer, o_blocked text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_mac text := upper(p_mac);
    x record;
    vc voucher;
    s record;
BEGIN
    SELECT r.tenant_id, tn.acct_interim_interval AS interim, tn.unused_voucher_days AS unused_days,
           v AS vc, u.used_seconds, u.used_bytes, u.others,
           COALESCE(d.known, false) AS known, d.devices,
           CASE WHEN fd.blocked_until > now() THEN fd.blocked_until
                WHEN fr.blocked_until > now() AND fd.failures > 0
                     AND fd.window_start > now() - make_interval(secs => tn.guess_window_seconds)
                THEN fr.blocked_until END AS blocked_until
      INTO x
      FROM router r
      JOIN tenant tn ON tn.id = r.tenant_id
      LEFT JOIN auth_failure fd ON fd.router_id = r.id AND fd.calling_station_id = v_mac
      LEFT JOIN auth_failure fr ON fr.router_id = r.id AND fr.calling_station_id = '*'
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
    IF x.blocked_until IS NOT NULL THEN
        -- Refused before the code is looked at, so a blocked guesser learns nothing from it.
        o_blocked := format('Too many wrong codes; try again in %s minute(s)',
                            ceil(extract(epoch FROM x.blocked_until - now()) / 60)::integer);
        RETURN NEXT;
        RETURN;
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
    -- rate replaces the plan's; the most demanding crossed threshold wins.
    SELECT f.rate_limit INTO s FROM fair_usage_state f
     WHERE f.tenant_id = x.tenant_id
       AND (f.router_id IS NULL OR f.router_id = p_router_id)
       AND (f.plan_id IS NULL OR f.plan_id = vc.plan_id)
     ORDER BY f.threshold DESC LIMIT 1;
    IF FOUND THEN
        o_rate_limit := s.rate_limit;
    END IF;
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

-- Devices of a voucher other than p_mac that hold a slot now: online (as radius_authorize()
-- counts them), or admitted in the last 30 s and not yet accounted (the router sends the Start
-- a moment after the Accept; without this, two new devices in the same second both got in).
CREATE FUNCTION voucher_devices_holding(vc voucher, p_mac text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM (
        SELECT a.callingstationid FROM radacct a JOIN tenant t ON t.id = vc.tenant_id
         WHERE a.voucher_id = vc.id AND a.acctstoptime IS NULL
           AND a.callingstationid IS DISTINCT FROM p_mac
           AND a.acctupdatetime > now() - session_grace(t.acct_interim_interval)
        UNION
        SELECT d.mac FROM voucher_device d
         WHERE d.voucher_id = vc.id AND d.mac <> p_mac AND d.first_seen > now() - interval '30 seconds'
           AND NOT EXISTS (SELECT 1 FROM radacct a WHERE a.voucher_id = vc.id AND a.callingstationid = d.mac)
    ) holding
$$;

-- As in 0002, plus: a new device is refused (-3) when the voucher's slots are held (see
-- voucher_devices_holding), decided under the voucher's row lock so concurrent new devices take
-- turns; and a wrong code ("Invalid voucher code": an unknown code, or a password that is not
-- the code) is counted against the device and its router. Other rejects (expired, device
-- limit) are not guesses and count nothing.
CREATE OR REPLACE FUNCTION radius_post_auth(p_tenant_id text, p_voucher_id text, p_activate text,
                                 p_username text, p_reply text, p_reason text, p_mac text,
                                 p_called text, p_src text, p_class text, p_router_id text,
                                 p_new_device text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    secs bigint := 0;
    vc voucher;
    t tenant;
    v_mac text := upper(p_mac);
    durable boolean := false;
BEGIN
    IF p_reply = 'Access-Accept' AND p_voucher_id <> '' AND (p_new_device = '1' OR p_activate = '1') THEN
        -- Under the voucher's row lock: a revoke or another device committed since authorize
        -- is seen here.
        SELECT * INTO vc FROM voucher WHERE id = p_voucher_id::bigint FOR UPDATE;
        IF vc.status = 'revoked' THEN
            RETURN -2;
        END IF;
        IF p_new_device = '1' THEN
            IF vc.mac_binding
               AND NOT EXISTS (SELECT 1 FROM voucher_device d WHERE d.voucher_id = vc.id AND d.mac = v_mac)
               AND (SELECT count(*) FROM voucher_device d WHERE d.voucher_id = vc.id) >= vc.device_limit THEN
                RETURN -1;
            END IF;
            IF voucher_devices_holding(vc, v_mac) >= vc.device_limit THEN
                RETURN -3;
            END IF;
            INSERT INTO voucher_device (voucher_id, mac, tenant_id, router_id)
            VALUES (vc.id, v_mac, vc.tenant_id, NULLIF(p_router_id, '')::integer)
            ON CONFLICT DO NOTHING;
            durable := vc.mac_binding;
        END IF;
        IF p_activate = '1' AND vc.first_used_at IS NULL THEN
            UPDATE voucher
               SET first_used_at = now(),
                   expires_at = now() + make_interval(secs => duration_seconds),
                   status = 'active'
             WHERE id = vc.id;
            secs := vc.duration_seconds;
            durable := true;
        ELSIF p_activate = '1' THEN
            -- Another router started the clock a moment ago.
            secs := GREATEST(ceil(extract(epoch FROM vc.expires_at - now()))::bigint, 1);
        END IF;
    ELSIF p_reply = 'Access-Reject' AND p_reason = 'Invalid voucher code'
          AND NULLIF(p_tenant_id, '0') <> '' AND NULLIF(p_router_id, '0') <> '' THEN
        SELECT * INTO t FROM tenant WHERE id = p_tenant_id::integer;
        PERFORM auth_failure_count(t.id, p_router_id::integer, v_mac, t.guess_max_failures,
                                   t.guess_window_seconds, t.guess_block_seconds);
        PERFORM auth_failure_count(t.id, p_router_id::integer, '*', t.router_guess_max_failures,
                                   t.guess_window_seconds, t.guess_block_seconds);
    END IF;

    -- A login log line may be lost if PostgreSQL crashes within a fraction of a second; it is
    -- not worth a WAL flush on every login. A started clock or a device binding stays durable.
    IF NOT durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    INSERT INTO radpostauth (tenant_id, username, reply, reason, callingstationid,
                             calledstationid, nasipaddress, class)
    VALUES (NULLIF(NULLIF(p_tenant_id, ''), '0')::integer, p_username, p_reply, NULLIF(p_reason, ''),
            NULLIF(v_mac, ''), NULLIF(p_called, ''), NULLIF(p_src, '')::inet, NULLIF(p_class, ''));
    RETURN COALESCE(secs, 0);
END
$$;

-- FreeRADIUS's own role (created here if missing; stack.sh or the operator gives it LOGIN and a
-- password). It may call the three functions of the RADIUS path and read the nas view
-- (read_clients, dynamic_clients), nothing else: the functions run as their owner
-- (SECURITY DEFINER) with a fixed search_path, so a stolen radiusd.conf password cannot read
-- vouchers, payments or staff, nor write anything but what those functions write.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mnetifi_radius') THEN
        CREATE ROLE mnetifi_radius NOLOGIN;
    END IF;
END
$$;
ALTER FUNCTION radius_authorize(integer, text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION radius_post_auth(text, text, text, text, text, text, text, text, text, text, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                 text, text, text, text, text, text, text, text, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
-- Functions are executable by PUBLIC by default; these three only by FreeRADIUS (and the owner).
REVOKE EXECUTE ON FUNCTION radius_authorize(integer, text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION radius_post_auth(text, text, text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                             text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_authorize(integer, text, text, text) TO mnetifi_radius;
GRANT EXECUTE ON FUNCTION radius_post_auth(text, text, text, text, text, text, text, text, text, text, text, text) TO mnetifi_radius;
GRANT EXECUTE ON FUNCTION radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text,
                                            text, text, text, text, text, text, text, text, text, text) TO mnetifi_radius;
GRANT SELECT ON nas TO mnetifi_radius;
