-- The captive portal: an ISP's branding, and promo codes applied before payment.

CREATE TABLE portal_settings (
    tenant_id integer PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    display_name text,
    primary_color text NOT NULL DEFAULT '#0d6efd',
    logo bytea,
    logo_type text,
    support_phone text,
    language text NOT NULL DEFAULT 'en',
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_portal_settings_primary_color CHECK (primary_color ~ '^#[0-9a-fA-F]{6}$'),
    CONSTRAINT ck_portal_settings_logo CHECK (logo IS NULL OR octet_length(logo) <= 65536),
    CONSTRAINT ck_portal_settings_logo_type
        CHECK (logo_type IS NULL OR logo_type IN ('image/png', 'image/jpeg', 'image/webp')),
    CONSTRAINT ck_portal_settings_language CHECK (language IN ('en', 'sw'))
);

CREATE TABLE promo_code (
    id serial PRIMARY KEY,
    tenant_id integer NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    code text NOT NULL,
    kind text NOT NULL,
    value integer NOT NULL,
    -- NULL: every plan
    plan_id integer REFERENCES plan (id) ON DELETE CASCADE,
    starts_at timestamptz,
    ends_at timestamptz,
    max_uses integer,
    uses integer NOT NULL DEFAULT 0,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_promo_code_tenant_id_code UNIQUE (tenant_id, code),
    CONSTRAINT ck_promo_code_code CHECK (code ~ '^[A-Z0-9]{3,20}$'),
    CONSTRAINT ck_promo_code_kind CHECK (kind IN ('percent', 'fixed')),
    CONSTRAINT ck_promo_code_value
        CHECK (value > 0 AND (kind <> 'percent' OR value <= 100)),
    CONSTRAINT ck_promo_code_window CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    CONSTRAINT ck_promo_code_max_uses CHECK (max_uses IS NULL OR max_uses > 0),
    CONSTRAINT ck_promo_code_uses CHECK (uses >= 0)
);

-- What a purchase cost before its promo, and which promo it used (counted when it is paid).
ALTER TABLE stk_request
    ADD COLUMN promo_code_id integer REFERENCES promo_code (id) ON DELETE SET NULL,
    ADD COLUMN list_price integer;
CREATE INDEX ix_stk_request_promo_code_id ON stk_request (promo_code_id)
    WHERE promo_code_id IS NOT NULL;
