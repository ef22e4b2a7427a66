-- Voucher lifecycle enforced in the RADIUS path: quotas, device limits, MAC binding, and
-- accounting that keeps per-voucher usage. FreeRADIUS calls radius_authorize() and
-- radius_post_auth() per login and radius_accounting() per accounting packet; the API reads the
-- same voucher_state(), so the portal, the admin and the router never disagree about a voucher.

-- A voucher's sessions, with what a login reads of them (usage sums, devices online), so
-- radius_authorize() reads them in one index-only pass.
CREATE INDEX ix_radacct_voucher_sessions ON radacct (voucher_id)
    INCLUDE (acctsessiontime, acctinputoctets, acctoutputoctets, acctstoptime, acctupdatetime,
             callingstationid)
    WHERE voucher_id IS NOT NULL;
-- an ISP's session history, newest first (API paging)
-- a voucher's open sessions (a Start closes the same device's previous one)
CREATE INDEX ix_radacct_open_by_voucher ON radacct (voucher_id) WHERE acctstoptime IS NULL;
CREATE INDEX ix_radacct_tenant_start ON radacct (tenant_id, acctstarttime DESC, radacctid DESC);

-- What a voucher has used and has left, and the state that follows. One definition for the
-- RADIUS path and the API. Usage is as fresh as the routers' last interim update.
-- The rules, given the usage (radius_authorize() reads the usage itself, in the same pass as
-- the devices online):
CREATE FUNCTION voucher_state(vc voucher, p_unused_days integer,
                              p_used_seconds bigint, p_used_bytes bigint,
                              OUT state text, OUT reason text,
                              OUT used_seconds bigint, OUT used_bytes bigint,
                              OUT seconds_left bigint, OUT bytes_left bigint,
                              OUT usable_until timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    used_seconds := p_used_seconds;
    used_bytes := p_used_bytes;
    IF vc.first_used_at IS NULL THEN
        -- Unused: the clock has not started; it must be first used before this.
        usable_until := vc.issued_at + make_interval(days => p_unused_days);
        seconds_left := vc.duration_seconds;
    ELSE
        usable_until := vc.expires_at;
        seconds_left := GREATEST(ceil(extract(epoch FROM vc.expires_at - now())), 0)::bigint;
    END IF;
    IF vc.time_quota_seconds IS NOT NULL THEN
        seconds_left := LEAST(seconds_left, GREATEST(vc.time_quota_seconds - used_seconds, 0));
    END IF;
    IF vc.data_quota_bytes IS NOT NULL THEN
        bytes_left := GREATEST(vc.data_quota_bytes - used_bytes, 0);
    END IF;

    IF vc.status = 'revoked' THEN
        state := 'revoked';
        reason := 'Voucher revoked';
    ELSIF vc.first_used_at IS NULL AND usable_until <= now() THEN
        state := 'expired';
        reason := format('Voucher expired: not used within %s days of issue', p_unused_days);
    ELSIF vc.first_used_at IS NOT NULL AND vc.expires_at <= now() THEN
        state := 'expired';
        reason := 'Voucher expired';
    ELSIF vc.time_quota_seconds IS NOT NULL AND used_seconds >= vc.time_quota_seconds THEN
        state := 'exhausted';
        reason := 'Time quota used up';
    ELSIF vc.data_quota_bytes IS NOT NULL AND used_bytes >= vc.data_quota_bytes THEN
        state := 'exhausted';
        reason := 'Data quota used up';
    ELSIF vc.first_used_at IS NULL THEN
        state := 'unused';
    ELSE
        state := 'active';
    END IF;
END
$$;

-- What the API calls: the usage from radacct, then the rules above.
CREATE FUNCTION voucher_state(vc voucher, p_unused_days integer,
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
    SELECT * INTO state, reason, used_seconds, used_bytes, seconds_left, bytes_left, usable_until
      FROM voucher_state(vc, p_unused_days, secs, bytes);
END
$$;

-- A session counts towards the device limit while the router keeps updating it: two missed
-- interim updates and a minute more, and it is a ghost (rebooted router, phone walked away).
CREATE FUNCTION session_grace(p_interim integer) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$ SELECT make_interval(secs => 2 * p_interim + 60) $$;

DROP FUNCTION radius_authorize(integer, text, text, text);
-- One call per Access-Request (rlm_sql_map instance mnetifi_authorize), always one row; columns
-- are read by position (see mods-enabled/mnetifi_authorize) and sql_map turns NULL into 0 or ''.
-- o_tenant_id is NULL when the packet's router is not (or no longer) registered at that source
-- address. The tenant comes from the router, never from the request. Deny reasons are only
-- shown after the password has been verified (post-auth).
CREATE FUNCTION radius_authorize(p_router_id integer, p_src text, p_username text, p_mac text)
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

DROP FUNCTION radius_post_auth(text, text, text, text, text, text, text, text, text, text);
-- Called for every Access-Reject, and for an Access-Accept that changes something (a first login or
-- a new device; a returning device needs no write). On an accept it records a new device (under
-- the voucher's row lock, so two new devices racing for the last MAC-binding slot cannot both
-- win) and starts the voucher's clock exactly once; it logs the attempt without the password.
-- Returns the seconds left when it (or a racing router) started the clock, 0 otherwise; -1 when a
-- MAC-bound voucher's last slot went to another device in the meantime, -2 when the voucher was
-- revoked in the meantime (the site then rejects).
CREATE FUNCTION radius_post_auth(p_tenant_id text, p_voucher_id text, p_activate text,
                                 p_username text, p_reply text, p_reason text, p_mac text,
                                 p_called text, p_src text, p_class text, p_router_id text,
                                 p_new_device text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    secs bigint := 0;
    vc voucher;
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

-- One call per accounting packet, live or replayed from the spool. Every write is guarded so a
-- retransmission or a replay in any order changes nothing twice: rows are keyed by
-- acctuniqueid, counters only move forward (by the time of receipt, and by the router's own
-- Acct-Session-Time, which orders packets received within the same second), and
-- a Stop wins over a close the server made itself (stale, superseded, router reboot).
-- Sessions are closed, never deleted.
CREATE FUNCTION radius_accounting(p_kind text, p_tenant_id text, p_nas text, p_unique text,
                                  p_session_id text, p_username text, p_ts text,
                                  p_session_time text, p_in bigint, p_out bigint, p_mac text,
                                  p_called text, p_cause text, p_class text, p_framed_ip text,
                                  p_nas_port text, p_port_type text, p_service_type text,
                                  p_framed_protocol text, p_authentic text, p_connect_info text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    tenant integer := p_tenant_id::integer;
    ts timestamptz := to_timestamp(p_ts::bigint);
    nas inet := p_nas::inet;
    v_mac text := NULLIF(upper(p_mac), '');
    stime bigint := NULLIF(p_session_time, '')::bigint;
    vid bigint;
    n integer;
BEGIN
    IF p_kind IN ('accounting-on', 'accounting-off') THEN
        -- The router rebooted: none of its sessions survived.
        UPDATE radacct
           SET acctstoptime = ts, acctupdatetime = ts,
               acctsessiontime = GREATEST(extract(epoch FROM ts - acctstarttime)::bigint, 0),
               acctterminatecause = COALESCE(NULLIF(p_cause, ''), 'NAS-Reboot')
         WHERE acctstoptime IS NULL AND tenant_id = tenant AND nasipaddress = nas
           AND acctstarttime <= ts;
        RETURN 1;
    END IF;
    IF p_kind NOT IN ('start', 'interim-update', 'stop') THEN
        RETURN 1;
    END IF;

    IF p_kind = 'interim-update' THEN
        -- A late interim proves a session the sweeper gave up on is alive after all.
        UPDATE radacct
           SET acctupdatetime = ts, acctsessiontime = COALESCE(stime, acctsessiontime),
               acctinterval = extract(epoch FROM ts - acctupdatetime)::bigint,
               acctinputoctets = p_in, acctoutputoctets = p_out,
               framedipaddress = COALESCE(NULLIF(p_framed_ip, '')::inet, framedipaddress),
               acctstoptime = NULL, acctterminatecause = NULL
         WHERE acctuniqueid = p_unique AND acctupdatetime <= ts
           AND COALESCE(stime, 0) >= COALESCE(acctsessiontime, 0)
           AND (acctstoptime IS NULL OR acctterminatecause = 'Stale-Session');
    ELSIF p_kind = 'stop' THEN
        UPDATE radacct
           SET acctstoptime = ts, acctupdatetime = ts,
               acctsessiontime = COALESCE(stime, GREATEST(extract(epoch FROM ts - acctstarttime)::bigint, 0)),
               acctinputoctets = p_in, acctoutputoctets = p_out,
               acctterminatecause = NULLIF(p_cause, ''), connectinfo_stop = NULLIF(p_connect_info, '')
         WHERE acctuniqueid = p_unique AND acctupdatetime <= ts
           AND COALESCE(stime, acctsessiontime, 0) >= COALESCE(acctsessiontime, 0)
           AND (acctstoptime IS NULL OR acctterminatecause IN ('Stale-Session', 'Superseded', 'NAS-Reboot'));
    ELSE
        -- A device logging in again on this voucher leaves its old session behind: close it.
        -- Two statements, not one with a CASE, so each has a plan that uses an index on what
        -- it matches (a CASE in WHERE leaves the generic plan a scan of every open session).
        SELECT id INTO vid FROM voucher WHERE tenant_id = tenant AND code = upper(p_username);
        IF vid IS NOT NULL THEN
            UPDATE radacct
               SET acctstoptime = ts, acctupdatetime = ts,
                   acctsessiontime = GREATEST(COALESCE(acctsessiontime, extract(epoch FROM ts - acctstarttime)::bigint), 0),
                   acctterminatecause = 'Superseded'
             WHERE voucher_id = vid AND acctstoptime IS NULL AND tenant_id = tenant
               AND acctuniqueid <> p_unique AND callingstationid IS NOT DISTINCT FROM v_mac
               AND acctstarttime <= ts;
        ELSE
            UPDATE radacct
               SET acctstoptime = ts, acctupdatetime = ts,
                   acctsessiontime = GREATEST(COALESCE(acctsessiontime, extract(epoch FROM ts - acctstarttime)::bigint), 0),
                   acctterminatecause = 'Superseded'
             WHERE tenant_id = tenant AND username = p_username AND acctstoptime IS NULL
               AND acctuniqueid <> p_unique AND callingstationid IS NOT DISTINCT FROM v_mac
               AND acctstarttime <= ts;
        END IF;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF p_kind <> 'start' AND n > 0 THEN
        RETURN 1;
    END IF;

    -- A Start, or an Interim/Stop whose Start was lost: create the session from what is known.
    -- A retransmitted or replayed packet finds its row already there and changes nothing.
    IF p_kind <> 'start' THEN
        SELECT id INTO vid FROM voucher WHERE tenant_id = tenant AND code = upper(p_username);
    END IF;
    INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, nasportid,
                         nasporttype, acctstarttime, acctupdatetime, acctstoptime,
                         acctsessiontime, acctauthentic, connectinfo_start, connectinfo_stop,
                         acctinputoctets, acctoutputoctets, calledstationid, callingstationid,
                         acctterminatecause, servicetype, framedprotocol, framedipaddress,
                         tenant_id, class, voucher_id)
    VALUES (p_session_id, p_unique, p_username, nas, NULLIF(p_nas_port, ''),
            NULLIF(p_port_type, ''), ts - make_interval(secs => COALESCE(stime, 0)), ts,
            CASE WHEN p_kind = 'stop' THEN ts END, COALESCE(stime, 0),
            NULLIF(p_authentic, ''), NULLIF(p_connect_info, ''),
            CASE WHEN p_kind = 'stop' THEN NULLIF(p_connect_info, '') END,
            p_in, p_out, NULLIF(p_called, ''), v_mac,
            CASE WHEN p_kind = 'stop' THEN NULLIF(p_cause, '') END,
            NULLIF(p_service_type, ''), NULLIF(p_framed_protocol, ''),
            NULLIF(p_framed_ip, '')::inet, tenant, NULLIF(p_class, ''), vid)
    ON CONFLICT (acctuniqueid) DO NOTHING;
    RETURN 1;
END
$$;

-- The worker's sweeper: close sessions past their tenant's grace period, so lists of who is
-- online stay true. (The device limit already ignores them without this.)
CREATE FUNCTION close_stale_sessions() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE radacct a
       SET acctstoptime = a.acctupdatetime,
           acctsessiontime = GREATEST(COALESCE(a.acctsessiontime, 0),
                                      extract(epoch FROM a.acctupdatetime - a.acctstarttime)::bigint),
           acctterminatecause = 'Stale-Session'
      FROM tenant t
     WHERE a.acctstoptime IS NULL AND t.id = a.tenant_id
       AND a.acctupdatetime < now() - session_grace(t.acct_interim_interval);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
