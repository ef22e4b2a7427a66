"""One outbox for every channel: sms_message becomes message (channel sms, whatsapp or email;
the provider that carried it; subject for e-mail, template and parameters for Meta; attempts
and the next attempt's time for retries with backoff), and each ISP's WhatsApp account (Africa's
Talking or Meta's Cloud API) and e-mail sender, their secrets encrypted.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

E164 = "^\\+[1-9][0-9]{6,14}$"
OLD_CHECKS = ("recipient", "body", "purpose", "status", "account")


def _rename_outbox() -> None:
    op.rename_table("sms_message", "message")
    op.execute("ALTER SEQUENCE sms_message_id_seq RENAME TO message_id_seq")
    op.execute("ALTER TABLE message RENAME CONSTRAINT pk_sms_message TO pk_message")
    op.execute(
        "ALTER TABLE message RENAME CONSTRAINT fk_sms_message_tenant_id_tenant "
        "TO fk_message_tenant_id_tenant"
    )
    for name in ("purpose", "status", "account"):
        op.execute(
            f"ALTER TABLE message RENAME CONSTRAINT ck_sms_message_{name} TO ck_message_{name}"
        )
    op.drop_constraint("ck_sms_message_recipient", "message")
    op.drop_constraint("ck_sms_message_body", "message")
    op.execute("ALTER INDEX uq_sms_message_idempotency_key RENAME TO uq_message_idempotency_key")
    op.execute("ALTER INDEX ix_sms_message_unsent RENAME TO ix_message_unsent")
    op.drop_index("uq_sms_message_provider_message_id", "message")
    op.drop_index("ix_sms_message_tenant_id_created_at", "message")


def upgrade() -> None:
    _rename_outbox()
    op.add_column("message", sa.Column("channel", sa.Text(), server_default="sms", nullable=False))
    op.alter_column("message", "channel", server_default=None)
    op.add_column("message", sa.Column("provider", sa.Text(), nullable=True))
    op.execute("UPDATE message SET provider = 'africastalking'")
    op.add_column("message", sa.Column("subject", sa.Text(), nullable=True))
    op.add_column("message", sa.Column("template", sa.Text(), nullable=True))
    op.add_column("message", sa.Column("template_params", postgresql.JSONB(), nullable=True))
    op.add_column(
        "message", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute("UPDATE message SET attempts = 1 WHERE status <> 'queued'")
    op.add_column(
        "message", sa.Column("max_attempts", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "message", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_message_channel"), "message", "channel IN ('sms', 'whatsapp', 'email')"
    )
    op.create_check_constraint(
        op.f("ck_message_provider"),
        "message",
        "provider IN ('africastalking', 'at_whatsapp', 'meta', 'smtp')",
    )
    op.create_check_constraint(
        op.f("ck_message_recipient"),
        "message",
        f"(channel IN ('sms', 'whatsapp') AND recipient ~ '{E164}') OR (channel = "
        "'email' AND char_length(recipient) <= 254 AND recipient ~ '^[^@\\s]+@[^@\\s]+$')",
    )
    op.create_check_constraint(
        op.f("ck_message_body"),
        "message",
        "char_length(body) BETWEEN 1 AND CASE channel WHEN 'sms' THEN 1600 "
        "WHEN 'whatsapp' THEN 4096 ELSE 100000 END",
    )
    op.create_check_constraint(
        op.f("ck_message_subject"),
        "message",
        "(channel = 'email') = (subject IS NOT NULL) AND char_length(subject) <= 200",
    )
    op.create_check_constraint(
        op.f("ck_message_template"),
        "message",
        "template IS NULL OR (channel = 'whatsapp' AND char_length(template) <= 512 "
        "AND template ~ '^[a-z0-9_]+$')",
    )
    op.create_check_constraint(
        op.f("ck_message_attempts"),
        "message",
        "attempts >= 0 AND max_attempts BETWEEN 1 AND 20 AND attempts <= max_attempts",
    )
    op.create_index(
        "uq_message_provider_provider_message_id",
        "message",
        ["provider", "provider_message_id"],
        unique=True,
    )
    op.create_index("ix_message_tenant_id_id", "message", ["tenant_id", "id"])
    _create_whatsapp_settings()
    _create_email_settings()


def _create_whatsapp_settings() -> None:
    op.create_table(
        "whatsapp_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("at_username", sa.Text(), nullable=True),
        sa.Column("at_api_key_enc", sa.Text(), nullable=True),
        sa.Column("at_wa_number", sa.Text(), nullable=True),
        sa.Column("meta_phone_number_id", sa.Text(), nullable=True),
        sa.Column("meta_access_token_enc", sa.Text(), nullable=True),
        sa.Column("meta_app_secret_enc", sa.Text(), nullable=True),
        sa.Column("meta_verify_token_enc", sa.Text(), nullable=True),
        sa.Column("meta_template", sa.Text(), nullable=True),
        sa.Column("meta_language", sa.Text(), server_default="en", nullable=False),
        sa.Column("hook_token_enc", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),  # fmt: skip
        sa.CheckConstraint(
            "provider IN ('at_whatsapp', 'meta')", name=op.f("ck_whatsapp_settings_provider")
        ),
        sa.CheckConstraint(
            "provider <> 'at_whatsapp' OR (at_username IS NOT NULL AND at_api_key_enc IS NOT "
            "NULL AND at_wa_number IS NOT NULL)",
            name=op.f("ck_whatsapp_settings_at_complete"),
        ),
        sa.CheckConstraint(
            "provider <> 'meta' OR (meta_phone_number_id IS NOT NULL AND meta_access_token_enc "
            "IS NOT NULL AND meta_app_secret_enc IS NOT NULL AND meta_verify_token_enc IS NOT "
            "NULL AND meta_template IS NOT NULL)",
            name=op.f("ck_whatsapp_settings_meta_complete"),
        ),
        sa.CheckConstraint(
            "at_username ~ '^[A-Za-z0-9_.-]{1,64}$'", name=op.f("ck_whatsapp_settings_at_username")
        ),
        sa.CheckConstraint(
            f"at_wa_number ~ '{E164}'", name=op.f("ck_whatsapp_settings_at_wa_number")
        ),
        sa.CheckConstraint(
            "meta_phone_number_id ~ '^[0-9]{1,32}$'",
            name=op.f("ck_whatsapp_settings_meta_phone_number_id"),
        ),
        sa.CheckConstraint(
            "char_length(meta_template) <= 512 AND meta_template ~ '^[a-z0-9_]+$'",
            name=op.f("ck_whatsapp_settings_meta_template"),
        ),
        sa.CheckConstraint(
            "meta_language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'",
            name=op.f("ck_whatsapp_settings_meta_language"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_whatsapp_settings_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_whatsapp_settings")),
    )


def _create_email_settings() -> None:
    op.create_table(
        "email_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("from_address", sa.Text(), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=False),
        sa.Column("smtp_host", sa.Text(), nullable=True),
        sa.Column("smtp_port", sa.Integer(), nullable=True),
        sa.Column("smtp_tls", sa.Text(), server_default="starttls", nullable=False),
        sa.Column("smtp_username", sa.Text(), nullable=True),
        sa.Column("smtp_password_enc", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),  # fmt: skip
        sa.CheckConstraint(
            "char_length(from_address) <= 254 AND from_address ~ '^[^@\\s]+@[^@\\s]+$'",
            name=op.f("ck_email_settings_from_address"),
        ),
        sa.CheckConstraint(
            "char_length(from_name) BETWEEN 1 AND 100 AND from_name !~ '[\\r\\n]'",
            name=op.f("ck_email_settings_from_name"),
        ),
        sa.CheckConstraint(
            "smtp_tls IN ('starttls', 'tls', 'none')", name=op.f("ck_email_settings_smtp_tls")
        ),
        sa.CheckConstraint(
            "smtp_port BETWEEN 1 AND 65535", name=op.f("ck_email_settings_smtp_port")
        ),
        sa.CheckConstraint(
            "(smtp_host IS NULL) = (smtp_port IS NULL) AND (smtp_host IS NOT NULL OR "
            "(smtp_username IS NULL AND smtp_password_enc IS NULL))",
            name=op.f("ck_email_settings_smtp_server"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_email_settings_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_email_settings")),
    )


def downgrade() -> None:
    op.drop_table("email_settings")
    op.drop_table("whatsapp_settings")
    # Messages of other channels have no place in sms_message.
    op.execute("DELETE FROM message WHERE channel <> 'sms'")
    op.drop_index("ix_message_tenant_id_id", "message")
    op.drop_index("uq_message_provider_provider_message_id", "message")
    for name in ("channel", "provider", "recipient", "body", "subject", "template", "attempts"):
        op.drop_constraint(f"ck_message_{name}", "message")
    for column in (
        "channel", "provider", "subject", "template", "template_params", "attempts",
        "max_attempts", "next_attempt_at",
    ):  # fmt: skip
        op.drop_column("message", column)
    op.rename_table("message", "sms_message")
    op.execute("ALTER SEQUENCE message_id_seq RENAME TO sms_message_id_seq")
    op.execute("ALTER TABLE sms_message RENAME CONSTRAINT pk_message TO pk_sms_message")
    op.execute(
        "ALTER TABLE sms_message RENAME CONSTRAINT fk_message_tenant_id_tenant "
        "TO fk_sms_message_tenant_id_tenant"
    )
    for name in ("purpose", "status", "account"):
        op.execute(
            f"ALTER TABLE sms_message RENAME CONSTRAINT ck_message_{name} TO ck_sms_message_{name}"
        )
    op.create_check_constraint(
        op.f("ck_sms_message_recipient"), "sms_message", f"recipient ~ '{E164}'"
    )
    op.create_check_constraint(
        op.f("ck_sms_message_body"), "sms_message", "char_length(body) BETWEEN 1 AND 1600"
    )
    op.execute("ALTER INDEX uq_message_idempotency_key RENAME TO uq_sms_message_idempotency_key")
    op.execute("ALTER INDEX ix_message_unsent RENAME TO ix_sms_message_unsent")
    op.create_index(
        "uq_sms_message_provider_message_id", "sms_message", ["provider_message_id"], unique=True
    )
    op.create_index(
        "ix_sms_message_tenant_id_created_at", "sms_message", ["tenant_id", "created_at"]
    )
