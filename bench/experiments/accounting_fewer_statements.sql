-- Proposal: radius_accounting() with fewer and better-planned statements (accounting only).
--
-- 1. The voucher lookup ran for every packet; only a Start (and an Interim or Stop whose Start
--    was lost) needs the voucher id. An Interim-Update is now one UPDATE.
-- 2. The Start's "supersede" UPDATE had `CASE WHEN vid IS NULL THEN username = .. ELSE
--    voucher_id = .. END` in its WHERE. No index matches a CASE, so the generic plan is a scan
--    of every open session (EXPLAIN with plan_cache_mode = force_generic_plan: 6,000 rows,
--    9,800 buffers, 21 ms), and PL/pgSQL keeps planning a custom plan for every Start instead.
--    Split in two, each UPDATE has a cached plan on an index of what it matches: a voucher's
--    open sessions (open_sessions_index.sql, which this wants) or a user's.
-- Same rules and results otherwise (radius_acct.py: every session holds its last interim; the
-- RADIUS tests in tests/ were not run against it).
--
-- Measured on top of open_sessions_index.sql (bench/experiment.py --acct, 2 rounds,
-- 2026-11-23): Accounting-Start 3,118-3,224 -> 3,635-3,834 packets/s, PostgreSQL 387-411 ->
-- 310-327 us per Start (deployed: 2,561-2,630, 508-514 us); Interim-Update 3,904-4,024 ->
-- 3,981-4,405 packets/s, PostgreSQL 274-282 -> 250-274 us (within the noise); 0 lost.
--
-- For migrations/sql/0002_lifecycle.up.sql: replaces the body of radius_accounting().
CREATE OR REPLACE FUNCTION public.radius_accounting(p_kind text, p_tenant_id text, p_nas text, p_unique text, p_session_id text, p_username text, p_ts text, p_session_time text, p_in bigint, p_out bigint, p_mac text, p_called text, p_cause text, p_class text, p_framed_ip text, p_nas_port text, p_port_type text, p_service_type text, p_framed_protocol text, p_authentic text, p_connect_info text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
    IF p_kind <> 'start' THEN
        SELECT id INTO vid FROM voucher WHERE tenant_id = tenant AND code = upper(p_username);
    END IF;
    -- A retransmitted or replayed packet finds its row already there and changes nothing.
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
$function$;
