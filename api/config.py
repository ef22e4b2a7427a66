"""Settings for every process (API, worker, CLI), read from MNETIFI_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 (refused outside development)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MNETIFI_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Where this runs; production refuses development secrets."
    )
    database_url: str = Field(
        "postgresql+asyncpg://mnetifi@127.0.0.1:55432/mnetifi",
        description="SQLAlchemy URL of the PostgreSQL database (asyncpg driver).",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:56379/0", description="Redis for jobs, sessions, limits."
    )
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET), description="Key for signing and for encrypting secrets at rest."
    )
    encryption_keys: SecretStr | None = Field(
        None,
        description="Comma-separated Fernet keys for secrets at rest (Daraja keys, SMS keys), "
        "newest first; without it one is derived from secret_key. Rotation: put a new key first, "
        "run `mnetifi secrets rotate`, then drop the old one.",
    )
    daraja_url: str | None = Field(
        None,
        description="Daraja base URL for every ISP (the fake Daraja in dev and test); unset: "
        "each ISP's own environment (sandbox or production host).",
    )
    base_domain: str = Field("mnetifi.com", description="ISPs live on <slug>.<base_domain>.")
    radius_host: str = Field("127.0.0.1", description="FreeRADIUS address, for health checks.")
    radius_auth_port: int = Field(1812, description="FreeRADIUS authentication port.")
    radius_acct_port: int = Field(1813, description="FreeRADIUS accounting port.")
    radius_status_source: str = Field(
        "127.0.0.254", description="Source address of health-check Status-Server packets."
    )
    radius_status_secret: SecretStr = Field(
        SecretStr("mnetifi-status"), description="Secret of the localhost Status-Server client."
    )
    session_ttl: timedelta = Field(
        timedelta(hours=12), description="Lifetime of a staff login token."
    )
    login_max_failures: int = Field(10, description="Failed logins per email+IP before a lockout.")
    login_lockout: timedelta = Field(
        timedelta(minutes=15), description="Window of the login limit."
    )
    voucher_batch_max: int = Field(
        10_000, description="Most vouchers one generation call may create."
    )

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value()
            if key == DEV_SECRET or len(key) < 32:
                raise ValueError(
                    "MNETIFI_SECRET_KEY must be set to 32+ random characters in production"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
