-- The M-Pesa money path: STK push requests, payments (one row per M-Pesa receipt), the access
-- each payment bought (one grant per payment), and every callback as it arrived.

ALTER TABLE payment_settings
    ADD COLUMN callback_token_enc text,
    ADD COLUMN c2b_api_version text NOT NULL DEFAULT 'v2',
    ADD COLUMN c2b_registered_at timestamptz,
    ADD CONSTRAINT ck_payment_settings_c2b_api_version CHECK (c2b_api_version IN ('v1', 'v2'));

-- Vouchers sold through a payment carry the buyer's phone; batch vouchers have none.
ALTER TABLE voucher
    ADD COLUMN source text NOT NULL DEFAULT 'batch',
    ADD COLUMN phone text,
    ADD CONSTRAINT ck_voucher_source CHECK (source IN ('batch', 'payment'));

-- One STK push to a customer's phone. Created before Daraja is called (so its reference exists
-- first); checkout_request_id is Daraja's answer.
CREATE TABLE stk_request (
    id bigserial PRIMARY KEY,
    public_id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id integer NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    plan_id integer NOT NULL REFERENCES plan (id) ON DELETE RESTRICT,
    -- a repurchase names the voucher it extends
    voucher_id bigint REFERENCES voucher (id) ON DELETE SET NULL,
    phone text NOT NULL,
    amount integer NOT NULL,
    account_type text NOT NULL,
    reference text NOT NULL,
    merchant_request_id text,
    checkout_request_id text,
    status text NOT NULL DEFAULT 'pending',
    result_code text,
    result_desc text,
    receipt text,
    client_mac text,
    client_ip inet,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    callback_at timestamptz,
    query_attempts integer NOT NULL DEFAULT 0,
    next_query_at timestamptz,
    -- the last STK Query answer, kept even when it contradicts a paid callback (never revokes)
    query_result_code text,
    CONSTRAINT uq_stk_request_public_id UNIQUE (public_id),
    CONSTRAINT uq_stk_request_tenant_id_checkout_request_id UNIQUE (tenant_id, checkout_request_id),
    CONSTRAINT uq_stk_request_tenant_id_reference UNIQUE (tenant_id, reference),
    CONSTRAINT ck_stk_request_phone CHECK (phone ~ '^254[17][0-9]{8}$'),
    CONSTRAINT ck_stk_request_amount CHECK (amount BETWEEN 1 AND 250000),
    CONSTRAINT ck_stk_request_account_type CHECK (account_type IN ('paybill', 'till')),
    CONSTRAINT ck_stk_request_status CHECK (status IN ('pending', 'paid', 'failed'))
);
CREATE INDEX ix_stk_request_tenant_id_created_at ON stk_request (tenant_id, created_at DESC);
CREATE INDEX ix_stk_request_tenant_id_phone ON stk_request (tenant_id, phone, created_at DESC);
-- the verification worker's queue
CREATE INDEX ix_stk_request_next_query_at ON stk_request (next_query_at)
    WHERE next_query_at IS NOT NULL;

-- One row per movement of money. STK and C2B meet here: the receipt is unique per ISP, so a
-- payment seen by both channels (or delivered twice) is one row.
CREATE TABLE payment (
    id bigserial PRIMARY KEY,
    tenant_id integer NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    source text NOT NULL,
    receipt text,
    stk_request_id bigint REFERENCES stk_request (id),
    amount numeric(12, 2) NOT NULL,
    currency text NOT NULL DEFAULT 'KES',
    phone text,
    account_reference text,
    shortcode text,
    paid_at timestamptz,
    -- granted: its access exists; unclaimed: a till payment waiting for its M-Pesa code on the
    -- portal; held: paid but buys nothing we sell (wrong amount, unknown account): staff decide
    status text NOT NULL,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_payment_tenant_id_receipt UNIQUE (tenant_id, receipt),
    CONSTRAINT uq_payment_stk_request_id UNIQUE (stk_request_id),
    CONSTRAINT ck_payment_source CHECK (source IN ('stk', 'c2b')),
    CONSTRAINT ck_payment_status CHECK (status IN ('granted', 'unclaimed', 'held')),
    CONSTRAINT ck_payment_amount CHECK (amount > 0),
    CONSTRAINT ck_payment_receipt CHECK (receipt ~ '^[A-Z0-9]{6,20}$'),
    CONSTRAINT ck_payment_identified CHECK (receipt IS NOT NULL OR stk_request_id IS NOT NULL)
);
CREATE INDEX ix_payment_tenant_id_created_at ON payment (tenant_id, created_at DESC);

-- The access a payment bought: a new voucher, or more time/data on a live one. One per payment.
CREATE TABLE payment_grant (
    id bigserial PRIMARY KEY,
    tenant_id integer NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    payment_id bigint NOT NULL REFERENCES payment (id),
    voucher_id bigint NOT NULL REFERENCES voucher (id),
    plan_id integer NOT NULL REFERENCES plan (id),
    kind text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    duration_seconds integer NOT NULL,
    time_quota_seconds bigint,
    data_quota_bytes bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_payment_grant_payment_id UNIQUE (payment_id),
    CONSTRAINT ck_payment_grant_kind CHECK (kind IN ('new', 'extend'))
);
CREATE INDEX ix_payment_grant_voucher_id ON payment_grant (voucher_id);

-- Every callback and validation request, stored raw before it is looked at, with its verdict.
CREATE TABLE payment_event (
    id bigserial PRIMARY KEY,
    tenant_id integer REFERENCES tenant (id) ON DELETE CASCADE,
    kind text NOT NULL,
    source_ip inet,
    peer_ip inet,
    forwarded_for text,
    body text NOT NULL,
    checkout_request_id text,
    receipt text,
    verdict text NOT NULL DEFAULT 'received',
    reason text,
    stk_request_id bigint REFERENCES stk_request (id) ON DELETE SET NULL,
    payment_id bigint REFERENCES payment (id) ON DELETE SET NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    CONSTRAINT ck_payment_event_kind
        CHECK (kind IN ('stk_callback', 'c2b_validation', 'c2b_confirmation')),
    CONSTRAINT ck_payment_event_verdict
        CHECK (verdict IN ('received', 'ok', 'duplicate', 'forged', 'unknown', 'mismatch',
                           'malformed', 'rejected'))
);
CREATE INDEX ix_payment_event_tenant_id_received_at ON payment_event (tenant_id, received_at DESC);
-- callbacks that beat their push's commit are matched again once it lands
CREATE INDEX ix_payment_event_unknown ON payment_event (checkout_request_id)
    WHERE verdict = 'unknown';
-- stored but never judged (the process died in between): the worker finishes them
CREATE INDEX ix_payment_event_received ON payment_event (received_at) WHERE verdict = 'received';
