-- Subscriber billing (issue 16, part 2): a balance that payments fill and renewals empty, one
-- row per renewal (exactly once per payment: its id is unique here), one row per expiry the
-- worker acted on (once per subscriber and due date), STK pushes that pay a subscriber's bill,
-- Disconnects that move a live session in or out of the expired state, and the ISP's reminder
-- and dunning settings.

ALTER TABLE tenant
    ADD COLUMN subscriber_reminder_days integer NOT NULL DEFAULT 3,
    ADD COLUMN subscriber_dunning_days text NOT NULL DEFAULT '1,3,7',
    ADD COLUMN subscriber_dunning_stk boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT ck_tenant_subscriber_billing CHECK (
        subscriber_reminder_days BETWEEN 0 AND 30
        AND subscriber_dunning_days ~ '^([1-9][0-9]?(,[1-9][0-9]?){0,9})?$');

ALTER TABLE subscriber
    ADD COLUMN balance integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT ck_subscriber_balance CHECK (balance >= 0);
-- The worker's sweeps (expiry, reminders, dunning) read subscribers by due date.
CREATE INDEX ix_subscriber_due_at ON subscriber (due_at);

CREATE TABLE subscriber_payment (
    id bigserial NOT NULL,
    tenant_id integer NOT NULL,
    subscriber_id bigint,
    payment_id bigint NOT NULL,
    receipt text,
    amount integer NOT NULL,
    months integer NOT NULL,
    balance_before integer NOT NULL,
    balance_after integer NOT NULL,
    due_before timestamptz NOT NULL,
    due_after timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_subscriber_payment PRIMARY KEY (id),
    CONSTRAINT uq_subscriber_payment_payment_id UNIQUE (payment_id),
    CONSTRAINT fk_subscriber_payment_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT fk_subscriber_payment_subscriber_id_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscriber (id) ON DELETE SET NULL,
    CONSTRAINT fk_subscriber_payment_payment_id_payment FOREIGN KEY (payment_id) REFERENCES payment (id),
    CONSTRAINT ck_subscriber_payment_amounts CHECK (amount > 0 AND months >= 0
        AND balance_before >= 0 AND balance_after >= 0 AND due_after >= due_before)
);
CREATE INDEX ix_subscriber_payment_subscriber ON subscriber_payment (tenant_id, subscriber_id, id DESC);

CREATE TABLE subscriber_expiry (
    id bigserial NOT NULL,
    tenant_id integer NOT NULL,
    subscriber_id bigint NOT NULL,
    due_at timestamptz NOT NULL,
    sessions integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_subscriber_expiry PRIMARY KEY (id),
    CONSTRAINT uq_subscriber_expiry_subscriber_id_due_at UNIQUE (subscriber_id, due_at),
    CONSTRAINT fk_subscriber_expiry_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE CASCADE,
    CONSTRAINT fk_subscriber_expiry_subscriber_id_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscriber (id) ON DELETE CASCADE
);
CREATE INDEX ix_subscriber_expiry_tenant_id_created_at ON subscriber_expiry (tenant_id, created_at);

-- A push for a subscriber's bill names the subscriber, not a hotspot plan.
ALTER TABLE stk_request
    ALTER COLUMN plan_id DROP NOT NULL,
    ADD COLUMN subscriber_id bigint,
    ADD CONSTRAINT fk_stk_request_subscriber_id_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscriber (id) ON DELETE SET NULL;
CREATE INDEX ix_stk_request_subscriber_id ON stk_request (subscriber_id) WHERE subscriber_id IS NOT NULL;

ALTER TABLE coa_request
    ADD COLUMN subscriber_id bigint,
    ADD CONSTRAINT fk_coa_request_subscriber_id_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscriber (id) ON DELETE SET NULL,
    DROP CONSTRAINT ck_coa_request_reason,
    ADD CONSTRAINT ck_coa_request_reason CHECK (reason IN ('admin', 'revoked', 'expired',
        'extended', 'fair_usage', 'renewed', 'suspended', 'resumed'));
CREATE INDEX ix_coa_request_subscriber_id ON coa_request (subscriber_id) WHERE subscriber_id IS NOT NULL;

ALTER TABLE notification
    ADD COLUMN subscriber_id bigint,
    ADD CONSTRAINT fk_notification_subscriber_id_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscriber (id) ON DELETE SET NULL;
