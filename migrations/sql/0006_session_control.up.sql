-- Session control: every Disconnect-Request and CoA-Request sent to a router for a session,
-- and what the router answered. Rows are written in the transaction that decided the change
-- (revoke, extension, admin action) and sent by the worker after it commits.

CREATE TABLE coa_request (
    id bigserial PRIMARY KEY,
    tenant_id integer NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    router_id integer REFERENCES router (id) ON DELETE SET NULL,
    radacct_id bigint REFERENCES radacct (radacctid) ON DELETE SET NULL,
    voucher_id bigint REFERENCES voucher (id) ON DELETE SET NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    attributes jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    error_cause integer,
    detail text,
    attempts integer NOT NULL DEFAULT 0,
    rounds integer NOT NULL DEFAULT 0,
    next_try_at timestamptz NOT NULL DEFAULT now(),
    actor text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT ck_coa_request_kind CHECK (kind IN ('disconnect', 'coa')),
    CONSTRAINT ck_coa_request_reason
        CHECK (reason IN ('admin', 'revoked', 'expired', 'extended', 'fair_usage')),
    CONSTRAINT ck_coa_request_status CHECK (status IN ('pending', 'ack', 'nak', 'timeout'))
);
CREATE INDEX ix_coa_request_tenant_id_created_at ON coa_request (tenant_id, created_at DESC);
CREATE INDEX ix_coa_request_router_id_created_at ON coa_request (router_id, created_at DESC);
CREATE INDEX ix_coa_request_radacct_id ON coa_request (radacct_id);
CREATE INDEX ix_coa_request_due ON coa_request (next_try_at) WHERE status = 'pending';
