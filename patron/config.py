"""Settings read from the environment (``PATRON_`` prefix) and an optional ``.env`` file."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 (refused in production)


class ConfigurationError(RuntimeError):
    """Settings that must not be used together or in this mode."""


# a host name, or *.domain for its subdomains (a Content Security Policy source)
HOST_NAME = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PATRON_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production", "test"] = "development"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    old_secret_keys: list[SecretStr] = Field(default_factory=list)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = ""
    data_dir: Path = Path("var")

    database_url: str = ""
    database_read_url: str = ""
    database_pool_size: int = Field(default=10, ge=1)
    redis_url: str = ""

    demo_password: SecretStr | None = None
    demo_data: bool = True

    session_idle_minutes: int = Field(default=8 * 60, ge=1)
    session_absolute_hours: int = Field(default=7 * 24, ge=1)
    login_max_failures: int = Field(default=10, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    rate_limit_login_per_minute: int = Field(default=20, ge=1)
    rate_limit_reset_per_hour: int = Field(default=10, ge=1)
    rate_limit_2fa_per_minute: int = Field(default=10, ge=1)
    password_reset_hours: int = Field(default=2, ge=1)
    invite_days: int = Field(default=7, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool | None = None  # None: use STARTTLS when the server offers it
    smtp_use_tls: bool = False
    mail_from: str = "Patron <patron@localhost>"

    currency: str = Field(default="USD", pattern="^[A-Z]{3}$")
    # uploaded import files and their error reports are deleted this long after the import
    import_keep_days: int = Field(default=30, ge=1)
    # raw webhook deliveries from stores (and their de-duplication keys) are kept this long
    webhook_receipt_keep_days: int = Field(default=90, ge=1)
    # a Stripe-Signature timestamp further than this from now is refused (replays)
    stripe_signature_tolerance: int = Field(default=300, ge=1)
    # hosts the panel may load product pictures from (https only), e.g. ["cdn.shopify.com"]
    image_hosts: list[str] = Field(default_factory=list)
    vip_spent_threshold: int = Field(default=1000, ge=0)
    at_risk_after_days: int = Field(default=180, ge=1)
    churned_after_days: int = Field(default=365, ge=1)
    cart_abandoned_after_minutes: int = Field(default=60, ge=1)
    low_stock_threshold: int = Field(default=5, ge=0)
    # work_mem (MB) for segment counts, previews and refreshes, local to their transaction:
    # the sets of an `or` are hashed in memory only when they fit (else a lookup per customer)
    segment_work_mem_mb: int = Field(default=64, ge=1, le=2048)
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    import_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    # outbound webhooks: private/loopback targets are refused unless this is set (SSRF)
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhooks_disable_after_failures: int = Field(default=20, ge=1)
    webhooks_keep_days: int = Field(default=30, ge=1)
    # store backfills through the Shopify / WooCommerce APIs; private/loopback stores are
    # refused unless allowed (SSRF), and only then is a Shopify API base URL other than
    # https://<shop domain> honoured (a test or staging server)
    store_api_allow_private: bool = False
    store_api_base_url: str = ""
    store_api_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # reconciliation reads what changed since the last successful run minus this overlap
    store_reconcile_overlap_minutes: int = Field(default=15, ge=0)
    # a customer's personal-data export can be downloaded this long, then it is deleted
    privacy_export_keep_days: int = Field(default=7, ge=1)
    # the reports' heaviest queries (products) give up after this long: report_timeout
    report_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    log_level: str = "INFO"
    log_json: bool | None = None

    @field_validator("image_hosts")
    @classmethod
    def _image_hosts(cls, hosts: list[str]) -> list[str]:
        cleaned = [host.strip().lower() for host in hosts if host.strip()]
        for host in cleaned:
            if not HOST_NAME.fullmatch(host):
                raise ValueError(f"{host!r} is not a host name like cdn.example.com")
        return cleaned

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_embedded_database(self) -> bool:
        return not self.database_url

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    @property
    def seeds_demo_data(self) -> bool:
        return self.demo_data and not self.is_production

    def check_production_safety(self) -> None:
        """Refuse settings that are only acceptable on a developer's machine."""
        if not self.is_production:
            return
        problems = []
        if self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
            problems.append("PATRON_SECRET_KEY is the default; set a long random value")
        if len(self.secret_key.get_secret_value()) < 32:
            problems.append("PATRON_SECRET_KEY must be at least 32 characters")
        if self.demo_password is not None or (
            "demo_data" in self.model_fields_set and self.demo_data
        ):
            problems.append("demo data is requested; demo data is never created in production")
        if problems:
            raise ConfigurationError("Refusing to start in production: " + "; ".join(problems))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
