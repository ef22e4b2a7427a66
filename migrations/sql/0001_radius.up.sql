-- Indexes for the queries in freeradius-config/mods-config/sql/main/postgresql/queries.conf.
-- Every per-user lookup is (tenant_id, username, ...): two ISPs may issue the same code.
CREATE INDEX ix_radcheck_tenant_user ON radcheck (tenant_id, username, attribute);
CREATE INDEX ix_radreply_tenant_user ON radreply (tenant_id, username, attribute);
CREATE INDEX ix_radusergroup_tenant_user ON radusergroup (tenant_id, username);
CREATE INDEX ix_radgroupcheck_tenant_group ON radgroupcheck (tenant_id, groupname, attribute);
CREATE INDEX ix_radgroupreply_tenant_group ON radgroupreply (tenant_id, groupname, attribute);
-- open sessions of a voucher (device limit, CoA fan-out)
CREATE INDEX ix_radacct_open_by_user ON radacct (tenant_id, username) WHERE acctstoptime IS NULL;
-- usage sums and the usage log of a voucher
CREATE INDEX ix_radacct_tenant_user_start ON radacct (tenant_id, username, acctstarttime);
-- Accounting-On/Off closes one router's open sessions
CREATE INDEX ix_radacct_open_by_nas ON radacct (nasipaddress, acctstarttime) WHERE acctstoptime IS NULL;
-- stale-session sweeper
CREATE INDEX ix_radacct_open_by_update ON radacct (acctupdatetime) WHERE acctstoptime IS NULL;
CREATE INDEX ix_radpostauth_tenant_user_date ON radpostauth (tenant_id, username, authdate);

-- FreeRADIUS reads its clients from here (read_clients at start-up, dynamic clients after).
-- shortname carries the tenant and router ids: 't<tenant>-r<router>'.
CREATE VIEW nas AS
SELECT r.id,
       host(r.ip_address) AS nasname,
       't' || r.tenant_id || '-r' || r.id AS shortname,
       'other'::text AS type,
       NULL::integer AS ports,
       r.secret,
       NULL::text AS server,
       NULL::text AS community,
       r.name AS description,
       r.tenant_id,
       r.coa_port,
       r.nas_identifier
  FROM router r JOIN tenant t ON t.id = r.tenant_id
 WHERE r.enabled AND t.active;

-- One call per Access-Request (rlm_sql_map instance mnetifi_authorize), always one row; columns
-- are read by position (see mods-enabled/mnetifi_authorize) and sql_map turns NULL into 0 or ''.
-- o_tenant_id is NULL when the packet's router is not (or no longer) registered at that source
-- address, so a deleted, disabled or moved router stops authenticating at once even while
-- FreeRADIUS still has it in memory. The tenant comes from the router, never from the request.
CREATE FUNCTION radius_authorize(p_router_id integer, p_src text, p_username text, p_mac text)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t record;
    v record;
    secs bigint;
BEGIN
    SELECT r.tenant_id, tn.acct_interim_interval, tn.unused_voucher_days INTO t
      FROM router r JOIN tenant tn ON tn.id = r.tenant_id
     WHERE r.id = p_router_id AND r.ip_address = p_src::inet AND r.enabled AND tn.active;
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;

    -- Codes are stored upper-case; customers type them in any case.
    SELECT * INTO v FROM voucher WHERE voucher.tenant_id = t.tenant_id AND voucher.code = upper(p_username);
    IF NOT FOUND THEN
        o_tenant_id := t.tenant_id;
        o_deny_reason := 'Invalid voucher code';
        RETURN NEXT;
        RETURN;
    END IF;

    o_tenant_id := t.tenant_id;
    o_voucher_id := v.id;
    -- The router hashes (CHAP) what the customer typed, so hand back the typed form.
    o_password := p_username;
    o_rate_limit := v.rate_limit;
    o_interim := t.acct_interim_interval;

    -- Reasons are only shown after the password has been verified (post-auth).
    IF v.status = 'revoked' THEN
        o_deny_reason := 'Voucher revoked';
    ELSIF v.first_used_at IS NULL
          AND v.issued_at + make_interval(days => t.unused_voucher_days) <= now() THEN
        o_deny_reason := format('Voucher expired: not used within %s days of issue', t.unused_voucher_days);
    ELSIF v.expires_at IS NOT NULL AND v.expires_at <= now() THEN
        o_deny_reason := 'Voucher expired';
    END IF;

    IF v.first_used_at IS NULL THEN
        secs := v.duration_seconds;
        o_activate := 1;
    ELSE
        secs := ceil(extract(epoch FROM v.expires_at - now()))::bigint;
    END IF;
    o_session_timeout := GREATEST(secs, 1);
    RETURN NEXT;
END
$$;

-- One call per Access-Accept/Reject (post-auth): logs the attempt (without the password) and,
-- on the first successful login, starts the voucher's clock exactly once. Two routers racing
-- on a fresh code both reach the UPDATE; the row lock makes the second see first_used_at set.
-- Returns the seconds left when it activated, else 0.
CREATE FUNCTION radius_post_auth(p_tenant_id text, p_voucher_id text, p_activate text,
                                 p_username text, p_reply text, p_reason text, p_mac text,
                                 p_called text, p_src text, p_class text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    secs bigint;
BEGIN
    -- A login log line may be lost if PostgreSQL crashes within a fraction of a second; it is
    -- not worth a WAL flush on every login. Starting a voucher's clock stays durable.
    IF NOT (p_activate = '1' AND p_reply = 'Access-Accept') THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    INSERT INTO radpostauth (tenant_id, username, reply, reason, callingstationid,
                             calledstationid, nasipaddress, class)
    VALUES (NULLIF(p_tenant_id, '')::integer, p_username, p_reply, NULLIF(p_reason, ''),
            NULLIF(p_mac, ''), NULLIF(p_called, ''), NULLIF(p_src, '')::inet, NULLIF(p_class, ''));

    IF p_activate = '1' AND p_reply = 'Access-Accept' AND p_voucher_id <> '' THEN
        UPDATE voucher
           SET first_used_at = now(),
               expires_at = now() + make_interval(secs => duration_seconds),
               status = 'active'
         WHERE id = p_voucher_id::bigint AND first_used_at IS NULL;
        SELECT GREATEST(ceil(extract(epoch FROM expires_at - now()))::bigint, 1) INTO secs
          FROM voucher WHERE id = p_voucher_id::bigint;
        RETURN COALESCE(secs, 0);
    END IF;
    RETURN 0;
END
$$;
