-- Subscribers (issue 16, part 1): monthly PPPoE and static-IP customers on the same RADIUS path
-- as vouchers, the ISP's zones (a tree following its map) and IP pools. FreeRADIUS still makes
-- one call per Access-Request: radius_authorize() now also finds a subscriber (by username for
-- PPP, by MAC for RouterOS's DHCP server) and decrypts its password with a key FreeRADIUS holds.

-- pgcrypto decrypts subscriber passwords inside radius_authorize(). A trusted extension since
-- PostgreSQL 13: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

ALTER TABLE tenant
    ADD COLUMN subscriber_grace_days integer NOT NULL DEFAULT 0,
    ADD COLUMN subscriber_pool text NOT NULL DEFAULT 'pppoe',
    ADD COLUMN expired_pool text NOT NULL DEFAULT 'expired',
    ADD COLUMN expired_address_list text NOT NULL DEFAULT 'expired',
    ADD CONSTRAINT ck_tenant_subscribers CHECK (
        subscriber_grace_days BETWEEN 0 AND 60
        AND subscriber_pool ~ '^[A-Za-z0-9._-]{1,64}$'
        AND expired_pool ~ '^[A-Za-z0-9._-]{1,64}$'
        AND expired_address_list ~ '^[A-Za-z0-9._-]{1,64}$');

-- path: the zone ids from the root down to the zone itself, so "zone Z and below" is
-- Z = ANY(path), one GIN index probe, and a move that would make a cycle is seen at once.
CREATE TABLE zone (
    id serial NOT NULL,
    tenant_id integer NOT NULL,
    parent_id integer,
    name text NOT NULL,
    latitude double precision,
    longitude double precision,
    outline jsonb,
    path integer[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_zone PRIMARY KEY (id),
    CONSTRAINT uq_zone_tenant_id_id UNIQUE (tenant_id, id),
    CONSTRAINT fk_zone_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT fk_zone_tenant_id_zone FOREIGN KEY (tenant_id, parent_id) REFERENCES zone (tenant_id, id),
    CONSTRAINT ck_zone_centre CHECK ((latitude IS NULL) = (longitude IS NULL)
        AND latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180),
    CONSTRAINT ck_zone_name CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_zone_path CHECK (path[array_upper(path, 1)] = id)
);
CREATE INDEX ix_zone_tenant_id_parent_id ON zone (tenant_id, parent_id);
CREATE INDEX ix_zone_path ON zone USING gin (path);

CREATE TABLE staff_zone (
    id serial NOT NULL,
    tenant_id integer NOT NULL,
    staff_id integer NOT NULL,
    zone_id integer NOT NULL,
    CONSTRAINT pk_staff_zone PRIMARY KEY (id),
    CONSTRAINT uq_staff_zone_staff_id_zone_id UNIQUE (staff_id, zone_id),
    CONSTRAINT fk_staff_zone_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT fk_staff_zone_tenant_id_staff_user FOREIGN KEY (tenant_id, staff_id)
        REFERENCES staff_user (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_staff_zone_tenant_id_zone FOREIGN KEY (tenant_id, zone_id)
        REFERENCES zone (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_staff_zone_zone_id ON staff_zone (zone_id);

ALTER TABLE router
    ADD COLUMN zone_id integer,
    ADD CONSTRAINT fk_router_tenant_id_zone FOREIGN KEY (tenant_id, zone_id) REFERENCES zone (tenant_id, id);
CREATE INDEX ix_router_zone_id ON router (zone_id);

CREATE TABLE ip_pool (
    id serial NOT NULL,
    tenant_id integer NOT NULL,
    name text NOT NULL,
    cidr cidr NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_ip_pool PRIMARY KEY (id),
    CONSTRAINT uq_ip_pool_tenant_id_name UNIQUE (tenant_id, name),
    CONSTRAINT uq_ip_pool_tenant_id_id UNIQUE (tenant_id, id),
    CONSTRAINT fk_ip_pool_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT ck_ip_pool_cidr CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 8 AND 32),
    CONSTRAINT ck_ip_pool_name CHECK (char_length(name) BETWEEN 1 AND 64)
);

CREATE TABLE subscriber_plan (
    id serial NOT NULL,
    tenant_id integer NOT NULL,
    name text NOT NULL,
    price integer NOT NULL,
    upload_kbps integer NOT NULL,
    download_kbps integer NOT NULL,
    burst_upload_kbps integer,
    burst_download_kbps integer,
    burst_seconds integer,
    data_cap_bytes bigint,
    rate_limit text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_subscriber_plan PRIMARY KEY (id),
    CONSTRAINT uq_subscriber_plan_tenant_id_name UNIQUE (tenant_id, name),
    CONSTRAINT uq_subscriber_plan_tenant_id_id UNIQUE (tenant_id, id),
    CONSTRAINT fk_subscriber_plan_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT ck_subscriber_plan_price CHECK (price >= 0),
    CONSTRAINT ck_subscriber_plan_rates CHECK (upload_kbps > 0 AND download_kbps > 0),
    CONSTRAINT ck_subscriber_plan_burst CHECK ((burst_upload_kbps IS NULL) = (burst_download_kbps IS NULL)
        AND (burst_upload_kbps IS NULL) = (burst_seconds IS NULL)
        AND burst_upload_kbps > upload_kbps AND burst_download_kbps > download_kbps
        AND burst_seconds BETWEEN 1 AND 3600),
    CONSTRAINT ck_subscriber_plan_data_cap CHECK (data_cap_bytes IS NULL OR data_cap_bytes > 0)
);

CREATE TABLE subscriber (
    id bigserial NOT NULL,
    tenant_id integer NOT NULL,
    username text NOT NULL,
    kind text NOT NULL,
    encrypted_password bytea NOT NULL,
    name text NOT NULL,
    phone text,
    zone_id integer,
    latitude double precision,
    longitude double precision,
    router_id integer,
    plan_id integer NOT NULL,
    due_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'active',
    ip_address inet,
    ip_pool_id integer,
    mac text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_subscriber PRIMARY KEY (id),
    CONSTRAINT uq_subscriber_tenant_id_ip_address UNIQUE (tenant_id, ip_address),
    CONSTRAINT uq_subscriber_tenant_id_mac UNIQUE (tenant_id, mac),
    CONSTRAINT fk_subscriber_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT fk_subscriber_tenant_id_zone FOREIGN KEY (tenant_id, zone_id) REFERENCES zone (tenant_id, id),
    CONSTRAINT fk_subscriber_tenant_id_subscriber_plan FOREIGN KEY (tenant_id, plan_id)
        REFERENCES subscriber_plan (tenant_id, id),
    CONSTRAINT fk_subscriber_tenant_id_ip_pool FOREIGN KEY (tenant_id, ip_pool_id) REFERENCES ip_pool (tenant_id, id),
    CONSTRAINT fk_subscriber_router_id_router FOREIGN KEY (router_id) REFERENCES router (id) ON DELETE SET NULL,
    CONSTRAINT ck_subscriber_kind CHECK (kind IN ('pppoe', 'static')),
    CONSTRAINT ck_subscriber_status CHECK (status IN ('active', 'suspended')),
    CONSTRAINT ck_subscriber_username CHECK (username ~ '^[A-Za-z0-9.@_-]{3,64}$'),
    CONSTRAINT ck_subscriber_mac CHECK (mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    CONSTRAINT ck_subscriber_static CHECK (kind = 'pppoe' OR (ip_address IS NOT NULL AND mac IS NOT NULL)),
    CONSTRAINT ck_subscriber_pool CHECK ((ip_address IS NULL) = (ip_pool_id IS NULL)),
    CONSTRAINT ck_subscriber_location CHECK ((latitude IS NULL) = (longitude IS NULL)
        AND latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180),
    CONSTRAINT ck_subscriber_name CHECK (char_length(name) BETWEEN 1 AND 100)
);
-- The PPP lookup: one probe, whatever case the router sends the name in.
CREATE UNIQUE INDEX uq_subscriber_tenant_id_username ON subscriber (tenant_id, lower(username));
CREATE INDEX ix_subscriber_tenant_id_id ON subscriber (tenant_id, id);
CREATE INDEX ix_subscriber_zone_id ON subscriber (zone_id);
CREATE INDEX ix_subscriber_router_id ON subscriber (router_id);

ALTER TABLE radacct
    ADD COLUMN subscriber_id bigint,
    ADD CONSTRAINT fk_radacct_subscriber_id_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscriber (id) ON DELETE SET NULL;
CREATE INDEX ix_radacct_subscriber_sessions ON radacct (subscriber_id, acctstarttime)
    INCLUDE (acctinputoctets, acctoutputoctets, acctstoptime) WHERE subscriber_id IS NOT NULL;

-- A subscriber's password, decrypted with the key FreeRADIUS sets on each of its database
-- connections (mods-config/sql/main/postgresql/queries.conf, open_query: the GUC
-- mnetifi.password_key, 32 bytes in hex). The key is never stored in the database, so a dump or
-- a stolen backup holds only ciphertext; see api/subscribers/secrets.py and the README for the
-- threat model. Without the key (any other connection), or with a wrong one, it is NULL: the
-- login fails like a wrong password, and nothing else breaks.
CREATE FUNCTION subscriber_password(p_encrypted bytea) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    k text := current_setting('mnetifi.password_key', true);
BEGIN
    IF k IS NULL OR length(k) <> 64 THEN
        RETURN NULL;
    END IF;
    RETURN convert_from(decrypt_iv(substring(p_encrypted FROM 17), decode(k, 'hex'),
                                   substring(p_encrypted FOR 16), 'aes-cbc/pad:pkcs'), 'UTF8');
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION subscriber_password(bytea) FROM PUBLIC;

DROP FUNCTION radius_authorize(integer, text, text, text);
-- As in 0008, plus p_service (what the site made of the request: 'ppp' for a PPP server,
-- 'dhcp' for RouterOS's DHCP server asking with a MAC, 'hotspot' otherwise) and a subscriber's
-- answer in the same single statement: o_subscriber_id, o_framed_ip (a fixed address),
-- o_framed_pool (the router's pool otherwise, or the expired pool) and o_address_list (the
-- expired address list the router redirects). Vouchers are looked up exactly as before, and
-- only for the hotspot: a PPP name or a MAC is never taken for a voucher code.
CREATE FUNCTION radius_authorize(p_router_id integer, p_src text, p_username text, p_mac text,
                                 p_service text)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer,
               o_new_device integer, o_blocked text, o_subscriber_id bigint, o_framed_ip text,
               o_framed_pool text, o_address_list text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_mac text := upper(p_mac);
    x record;
    vc voucher;
    s record;
BEGIN
    IF p_service IN ('ppp', 'dhcp') THEN
        RETURN QUERY SELECT * FROM radius_authorize_subscriber(p_router_id, p_src, p_username,
                                                               p_service);
        RETURN;
    END IF;
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

-- The subscriber half of radius_authorize() (same columns), in the same statement: router
-- still registered at this address, its ISP, the subscriber (by name for PPP, whatever its
-- case; by MAC for DHCP, static clients only) and its plan, in one pass of primary-key and
-- unique-index probes. The password is handed to FreeRADIUS for PAP, CHAP and MS-CHAP (which
-- needs it or its NT hash). Paid up (due date + the ISP's grace): the plan's rate, the fixed
-- address or the ISP's pool, Session-Timeout at most until then. Expired: accepted into the
-- expired pool and address list (the router redirects them to a page saying how to pay), no
-- fixed address, and asked again within the hour. Suspended: refused with the reason, once
-- the password is right (post-auth).
CREATE FUNCTION radius_authorize_subscriber(p_router_id integer, p_src text, p_username text,
                                            p_service text)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer,
               o_new_device integer, o_blocked text, o_subscriber_id bigint, o_framed_ip text,
               o_framed_pool text, o_address_list text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    x record;
    paid_until timestamptz;
    used bigint;
BEGIN
    IF p_service = 'ppp' THEN
        SELECT r.tenant_id, tn.acct_interim_interval AS interim, tn.subscriber_grace_days AS grace,
               tn.subscriber_pool, tn.expired_pool, tn.expired_address_list,
               s.id, s.status, s.due_at, s.ip_address, s.encrypted_password,
               p.rate_limit, p.data_cap_bytes
          INTO x
          FROM router r
          JOIN tenant tn ON tn.id = r.tenant_id
          LEFT JOIN subscriber s ON s.tenant_id = r.tenant_id AND lower(s.username) = lower(p_username)
          LEFT JOIN subscriber_plan p ON p.id = s.plan_id
         WHERE r.id = p_router_id AND r.ip_address = p_src::inet AND r.enabled AND tn.active;
    ELSE
        -- RouterOS's DHCP server sends the client's MAC as User-Name, upper-case with colons.
        SELECT r.tenant_id, tn.acct_interim_interval AS interim, tn.subscriber_grace_days AS grace,
               tn.subscriber_pool, tn.expired_pool, tn.expired_address_list,
               s.id, s.status, s.due_at, s.ip_address, s.encrypted_password,
               p.rate_limit, p.data_cap_bytes
          INTO x
          FROM router r
          JOIN tenant tn ON tn.id = r.tenant_id
          LEFT JOIN subscriber s ON s.tenant_id = r.tenant_id AND s.mac = upper(p_username)
                                AND s.kind = 'static'
          LEFT JOIN subscriber_plan p ON p.id = s.plan_id
         WHERE r.id = p_router_id AND r.ip_address = p_src::inet AND r.enabled AND tn.active;
    END IF;
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    o_tenant_id := x.tenant_id;
    o_activate := 0;
    o_new_device := 0;
    IF x.id IS NULL THEN
        RETURN NEXT;  -- unknown: no password, so the login fails as a wrong one would
        RETURN;
    END IF;
    o_subscriber_id := x.id;
    IF p_service = 'ppp' THEN
        o_password := subscriber_password(x.encrypted_password);
    END IF;
    o_interim := x.interim;
    IF x.status = 'suspended' THEN
        o_deny_reason := 'Account suspended: please contact your internet provider';
        RETURN NEXT;
        RETURN;
    END IF;
    paid_until := x.due_at + make_interval(days => x.grace);
    IF paid_until <= now() THEN
        o_framed_pool := x.expired_pool;
        o_address_list := x.expired_address_list;
        o_session_timeout := 3600;
        RETURN NEXT;
        RETURN;
    END IF;
    o_rate_limit := x.rate_limit;
    o_session_timeout := GREATEST(ceil(extract(epoch FROM paid_until - now()))::bigint, 1);
    IF p_service = 'dhcp' THEN
        -- The lease time: the router asks again within the hour, so an expiry is seen then even
        -- if no Disconnect reaches it.
        o_session_timeout := LEAST(o_session_timeout, 3600);
    END IF;
    IF x.ip_address IS NOT NULL THEN
        o_framed_ip := host(x.ip_address);
    ELSE
        o_framed_pool := x.subscriber_pool;
    END IF;
    IF x.data_cap_bytes IS NOT NULL THEN
        -- The month's data: sessions started since the last due date (index-only pass over the
        -- subscriber's sessions of the period).
        SELECT COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)), 0)::bigint
          INTO used
          FROM radacct a
         WHERE a.subscriber_id = x.id AND a.acctstarttime >= x.due_at - interval '1 month';
        IF used >= x.data_cap_bytes THEN
            o_deny_reason := 'Monthly data cap used up';
        ELSE
            o_total_limit := (x.data_cap_bytes - used) & 4294967295;
            o_total_limit_gigawords := (x.data_cap_bytes - used) >> 32;
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
REVOKE EXECUTE ON FUNCTION radius_authorize_subscriber(integer, text, text, text) FROM PUBLIC;
ALTER FUNCTION radius_authorize(integer, text, text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION radius_authorize(integer, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_authorize(integer, text, text, text, text) TO mnetifi_radius;

-- Which voucher or subscriber an accounting packet is about. A PPP session (Framed-Protocol PPP)
-- is a subscriber's, found by name; anything else is a voucher's by code as before, or else a
-- static client's by MAC (RouterOS's DHCP server accounts with the MAC as User-Name). A PPP name
-- that happens to spell a voucher code is therefore never counted against that voucher.
CREATE FUNCTION accounting_voucher(p_tenant integer, p_username text, p_framed_protocol text)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT id FROM voucher
     WHERE tenant_id = p_tenant AND code = upper(p_username) AND p_framed_protocol IS DISTINCT FROM 'PPP'
$$;
CREATE FUNCTION accounting_subscriber(p_tenant integer, p_username text, p_framed_protocol text)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT id FROM subscriber
     WHERE tenant_id = p_tenant AND p_framed_protocol = 'PPP' AND lower(username) = lower(p_username)
    UNION ALL
    SELECT id FROM subscriber
     WHERE tenant_id = p_tenant AND p_framed_protocol IS DISTINCT FROM 'PPP' AND mac = upper(p_username)
    LIMIT 1
$$;

-- As in 0016, plus radacct.subscriber_id: a subscriber's session is recorded like a voucher's
-- (same keys, same guards against retransmission and replay), tied to its subscriber.
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
    sid bigint;
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
        vid := accounting_voucher(tenant, p_username, p_framed_protocol);
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
        vid := accounting_voucher(tenant, p_username, p_framed_protocol);
    END IF;
    IF vid IS NULL THEN
        sid := accounting_subscriber(tenant, p_username, p_framed_protocol);
    END IF;
    INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, nasportid,
                         nasporttype, acctstarttime, acctupdatetime, acctstoptime,
                         acctsessiontime, acctauthentic, connectinfo_start, connectinfo_stop,
                         acctinputoctets, acctoutputoctets, calledstationid, callingstationid,
                         acctterminatecause, servicetype, framedprotocol, framedipaddress,
                         tenant_id, class, voucher_id, subscriber_id)
    VALUES (p_session_id, p_unique, p_username, nas, NULLIF(p_nas_port, ''),
            NULLIF(p_port_type, ''), ts - make_interval(secs => COALESCE(stime, 0)), ts,
            CASE WHEN p_kind = 'stop' THEN ts END, COALESCE(stime, 0),
            NULLIF(p_authentic, ''), NULLIF(p_connect_info, ''),
            CASE WHEN p_kind = 'stop' THEN NULLIF(p_connect_info, '') END,
            p_in, p_out, NULLIF(p_called, ''), v_mac,
            CASE WHEN p_kind = 'stop' THEN NULLIF(p_cause, '') END,
            NULLIF(p_service_type, ''), NULLIF(p_framed_protocol, ''),
            NULLIF(p_framed_ip, '')::inet, tenant, NULLIF(p_class, ''), vid, sid)
    ON CONFLICT (acctuniqueid) DO NOTHING;
    IF p_kind <> 'start' AND vid IS NOT NULL THEN
        PERFORM voucher_usage_check(tenant, vid);  -- an interim or stop whose start was lost
    END IF;
    RETURN 1;
END
$$;
REVOKE EXECUTE ON FUNCTION accounting_voucher(integer, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION accounting_subscriber(integer, text, text) FROM PUBLIC;
