-- Wrong subscriber passwords are throttled (issue 16; the voucher codes' guess limits, issue 11,
-- applied to a PPPoE account). Guessing a password is guessing one account's secret, so the
-- count is per account, not per device. A block must not lock a paying customer out because
-- someone else guessed: an account has two buckets, its known device (the MAC of its latest
-- session, the customer's own router) and every other device, each counted and blocked on its
-- own. A neighbour guessing from another MAC blocks only the other devices; the customer's
-- router keeps logging in, and is blocked only by its own wrong passwords (a stale password
-- after a change, or someone spoofing its MAC). The ISP's guess limits apply: blocked after
-- guess_max_failures wrong passwords within guess_window_seconds, for guess_block_seconds,
-- doubled on each further block (at most a day). A new password, or staff, clears the block.

CREATE TABLE subscriber_auth_failure (
    subscriber_id bigint NOT NULL
        CONSTRAINT fk_subscriber_auth_failure_subscriber_id_subscriber
        REFERENCES subscriber (id) ON DELETE CASCADE,
    known_device boolean NOT NULL,
    tenant_id integer NOT NULL
        CONSTRAINT fk_subscriber_auth_failure_tenant_id_tenant REFERENCES tenant (id) ON DELETE CASCADE,
    failures integer NOT NULL DEFAULT 0,
    window_start timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz,
    blocks integer NOT NULL DEFAULT 0,
    CONSTRAINT pk_subscriber_auth_failure PRIMARY KEY (subscriber_id, known_device)
);
CREATE INDEX ix_subscriber_auth_failure_tenant_id ON subscriber_auth_failure (tenant_id);

-- The latest block of either bucket: radius_authorize_subscriber() looks at the buckets only
-- while it is in the future, so a login with no block running costs one column more.
ALTER TABLE subscriber ADD COLUMN login_blocked_until timestamptz;

-- Whether p_mac is the subscriber's known device: the Calling-Station-Id of its latest session.
-- A subscriber that never connected has none.
CREATE FUNCTION subscriber_known_device(p_subscriber_id bigint, p_mac text)
RETURNS boolean LANGUAGE sql STABLE AS $$
SELECT COALESCE((SELECT upper(a.callingstationid) FROM radacct a
                  WHERE a.subscriber_id = p_subscriber_id AND a.acctstarttime IS NOT NULL
                  ORDER BY a.acctstarttime DESC LIMIT 1) = upper(p_mac), false)
$$;

-- A wrong password for p_username at this ISP (FreeRADIUS's reject path; an unknown name
-- protects nothing and counts nothing): counted in the bucket of the device it came from, which
-- is blocked at the ISP's limit. Returns the bucket's failures in the window (0 once blocked).
-- The count is under the bucket's row lock (INSERT ... ON CONFLICT), so concurrent attempts
-- each count once.
CREATE FUNCTION radius_password_failure(p_tenant_id text, p_username text, p_mac text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    t tenant;
    v_subscriber bigint;
    v_known boolean;
    f subscriber_auth_failure;
BEGIN
    SELECT * INTO t FROM tenant WHERE id = NULLIF(NULLIF(p_tenant_id, ''), '0')::integer;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    SELECT s.id INTO v_subscriber FROM subscriber s
     WHERE s.tenant_id = t.id AND lower(s.username) = lower(p_username);
    IF v_subscriber IS NULL THEN
        RETURN 0;
    END IF;
    v_known := subscriber_known_device(v_subscriber, p_mac);
    INSERT INTO subscriber_auth_failure AS a (subscriber_id, known_device, tenant_id, failures)
    VALUES (v_subscriber, v_known, t.id, 1)
    ON CONFLICT (subscriber_id, known_device) DO UPDATE
       SET failures = CASE WHEN a.window_start <= now() - make_interval(secs => t.guess_window_seconds)
                           THEN 1 ELSE a.failures + 1 END,
           window_start = CASE WHEN a.window_start <= now() - make_interval(secs => t.guess_window_seconds)
                               THEN now() ELSE a.window_start END
    RETURNING * INTO f;
    IF f.failures >= t.guess_max_failures THEN
        -- A growing block: the window restarts with it, so the next block needs as many again.
        UPDATE subscriber_auth_failure
           SET blocked_until = now() + LEAST(make_interval(secs => t.guess_block_seconds)
                                             * 2 ^ LEAST(f.blocks, 12), interval '1 day'),
               blocks = f.blocks + 1, failures = 0, window_start = now()
         WHERE subscriber_id = v_subscriber AND known_device = v_known
        RETURNING * INTO f;
        UPDATE subscriber SET login_blocked_until = GREATEST(login_blocked_until, f.blocked_until)
         WHERE id = v_subscriber;
    END IF;
    RETURN f.failures;
END
$$;
ALTER FUNCTION radius_password_failure(text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION radius_password_failure(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radius_password_failure(text, text, text) TO mnetifi_radius;

-- The worker's tidy-up, as in 0008, and the subscribers' buckets with nothing to remember.
CREATE OR REPLACE FUNCTION prune_auth_failures() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    m integer;
BEGIN
    DELETE FROM auth_failure
     WHERE GREATEST(window_start, COALESCE(blocked_until, window_start)) < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM subscriber_auth_failure
     WHERE GREATEST(window_start, COALESCE(blocked_until, window_start)) < now() - interval '1 day';
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;

-- As in 0020, plus p_mac (the Calling-Station-Id) and the block: a PPP login of an account
-- whose bucket for this device is blocked is refused with o_blocked, before the password is
-- looked at, so a blocked guesser learns nothing. FreeRADIUS passes the MAC from now on; a
-- server still on the older configuration calls it with four arguments (no MAC: the other
-- devices' bucket).
DROP FUNCTION radius_authorize_subscriber(integer, text, text, text);
CREATE FUNCTION radius_authorize_subscriber(p_router_id integer, p_src text, p_username text,
                                            p_service text, p_mac text DEFAULT NULL)
RETURNS TABLE (o_tenant_id integer, o_voucher_id bigint, o_password text, o_deny_reason text,
               o_session_timeout bigint, o_rate_limit text, o_interim integer,
               o_total_limit bigint, o_total_limit_gigawords bigint, o_activate integer,
               o_new_device integer, o_blocked text, o_subscriber_id bigint, o_framed_ip text,
               o_framed_pool text, o_address_list text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    x record;
    v_blocked timestamptz;
    paid_until timestamptz;
    used bigint;
BEGIN
    IF p_service = 'ppp' THEN
        SELECT r.tenant_id, tn.acct_interim_interval AS interim, tn.subscriber_grace_days AS grace,
               tn.subscriber_pool, tn.expired_pool, tn.expired_address_list,
               s.id, s.status, s.due_at, s.ip_address, s.encrypted_password, s.login_blocked_until,
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
               s.id, s.status, s.due_at, s.ip_address, s.encrypted_password, s.login_blocked_until,
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
    IF p_service = 'ppp' AND x.login_blocked_until > now() THEN
        -- Too many wrong passwords lately (subscriber.login_blocked_until, set with the block):
        -- refused before the password is looked at, unless this device's own bucket is clear.
        SELECT f.blocked_until INTO v_blocked FROM subscriber_auth_failure f
         WHERE f.subscriber_id = x.id AND f.known_device = subscriber_known_device(x.id, p_mac)
           AND f.blocked_until > now();
        IF FOUND THEN
            o_blocked := format('Too many wrong passwords; try again in %s minute(s)',
                                ceil(extract(epoch FROM v_blocked - now()) / 60)::integer);
            RETURN NEXT;
            RETURN;
        END IF;
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
REVOKE EXECUTE ON FUNCTION radius_authorize_subscriber(integer, text, text, text, text) FROM PUBLIC;
ALTER FUNCTION radius_authorize_subscriber(integer, text, text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;
GRANT EXECUTE ON FUNCTION radius_authorize_subscriber(integer, text, text, text, text) TO mnetifi_radius;
