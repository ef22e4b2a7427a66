-- Usage warnings (issue 15): the accounting that reports a voucher's usage also decides, in the
-- same transaction, that its customer is told when it crosses the ISP's threshold (90% by
-- default, per plan if set) of its data or time quota: one `notification` row whose unique key
-- names the voucher, the quota and the amount of it, so a retransmitted or replayed interim, a
-- second FreeRADIUS or a restart decides nothing twice, and a repurchase (a bigger quota) is
-- watched afresh. The worker turns notifications into messages (api/notifications/).

-- What the accounting path runs on every interim or stop of a voucher's session. Most calls end
-- at the first comparison, on the voucher's own row (by primary key): no quota to watch, or
-- already warned at this quota. Only a voucher still being watched sums its sessions (by the
-- radacct voucher_id index: a handful of rows) and, on crossing, marks itself warned (a guarded
-- UPDATE, so two packets at once cannot both pass) and inserts the notification.
CREATE FUNCTION voucher_usage_check(p_tenant integer, p_voucher bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    vc record;
    used_bytes bigint;
    used_seconds bigint;
BEGIN
    SELECT v.id, v.code, v.phone, v.data_quota_bytes, v.time_quota_seconds,
           v.warned_data_quota, v.warned_time_quota,
           COALESCE(p.usage_warning_percent, t.usage_warning_percent) AS pct
      INTO vc
      FROM voucher v JOIN tenant t ON t.id = v.tenant_id LEFT JOIN plan p ON p.id = v.plan_id
     WHERE v.id = p_voucher AND v.tenant_id = p_tenant;
    IF NOT FOUND OR vc.pct IS NULL OR vc.pct = 0 THEN
        RETURN;
    END IF;
    IF (vc.data_quota_bytes IS NULL OR vc.warned_data_quota IS NOT DISTINCT FROM vc.data_quota_bytes)
       AND (vc.time_quota_seconds IS NULL
            OR vc.warned_time_quota IS NOT DISTINCT FROM vc.time_quota_seconds) THEN
        RETURN;
    END IF;
    SELECT COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)), 0)::bigint,
           COALESCE(sum(a.acctsessiontime), 0)::bigint
      INTO used_bytes, used_seconds
      FROM radacct a WHERE a.voucher_id = p_voucher;
    IF vc.data_quota_bytes IS NOT NULL
       AND vc.warned_data_quota IS DISTINCT FROM vc.data_quota_bytes
       AND used_bytes * 100 >= vc.data_quota_bytes * vc.pct THEN
        UPDATE voucher SET warned_data_quota = vc.data_quota_bytes
         WHERE id = p_voucher AND warned_data_quota IS DISTINCT FROM vc.data_quota_bytes;
        IF FOUND THEN
            INSERT INTO notification (tenant_id, event, key, voucher_id, details)
            VALUES (p_tenant, 'usage.data',
                    format('usage.data:%s:%s:%s', p_voucher, vc.data_quota_bytes, vc.pct),
                    p_voucher,
                    jsonb_build_object('percent', vc.pct, 'quota_bytes', vc.data_quota_bytes,
                                       'used_bytes', used_bytes))
            ON CONFLICT (key) DO NOTHING;
        END IF;
    END IF;
    IF vc.time_quota_seconds IS NOT NULL
       AND vc.warned_time_quota IS DISTINCT FROM vc.time_quota_seconds
       AND used_seconds * 100 >= vc.time_quota_seconds * vc.pct THEN
        UPDATE voucher SET warned_time_quota = vc.time_quota_seconds
         WHERE id = p_voucher AND warned_time_quota IS DISTINCT FROM vc.time_quota_seconds;
        IF FOUND THEN
            INSERT INTO notification (tenant_id, event, key, voucher_id, details)
            VALUES (p_tenant, 'usage.time',
                    format('usage.time:%s:%s:%s', p_voucher, vc.time_quota_seconds, vc.pct),
                    p_voucher,
                    jsonb_build_object('percent', vc.pct, 'quota_seconds', vc.time_quota_seconds,
                                       'used_seconds', used_seconds))
            ON CONFLICT (key) DO NOTHING;
        END IF;
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION voucher_usage_check(integer, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION radius_accounting(p_kind text, p_tenant_id text, p_nas text, p_unique text,
                                  p_session_id text, p_username text, p_ts text,
                                  p_session_time text, p_in bigint, p_out bigint, p_mac text,
                                  p_called text, p_cause text, p_class text, p_framed_ip text,
                                  p_nas_port text, p_port_type text, p_service_type text,
                                  p_framed_protocol text, p_authentic text, p_connect_info text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
           AND (acctstoptime IS NULL OR acctterminatecause = 'Stale-Session')
        RETURNING voucher_id INTO vid;
    ELSIF p_kind = 'stop' THEN
        UPDATE radacct
           SET acctstoptime = ts, acctupdatetime = ts,
               acctsessiontime = COALESCE(stime, GREATEST(extract(epoch FROM ts - acctstarttime)::bigint, 0)),
               acctinputoctets = p_in, acctoutputoctets = p_out,
               acctterminatecause = NULLIF(p_cause, ''), connectinfo_stop = NULLIF(p_connect_info, '')
         WHERE acctuniqueid = p_unique AND acctupdatetime <= ts
           AND COALESCE(stime, acctsessiontime, 0) >= COALESCE(acctsessiontime, 0)
           AND (acctstoptime IS NULL OR acctterminatecause IN ('Stale-Session', 'Superseded', 'NAS-Reboot'))
        RETURNING voucher_id INTO vid;
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
        IF vid IS NOT NULL THEN
            PERFORM voucher_usage_check(tenant, vid);
        END IF;
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
    IF p_kind <> 'start' AND vid IS NOT NULL THEN
        PERFORM voucher_usage_check(tenant, vid);  -- an interim or stop whose start was lost
    END IF;
    RETURN 1;
END
$$;
