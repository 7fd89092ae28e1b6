"""Typed settings, read once from the environment (and an optional `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    # Unset: an embedded PostgreSQL under data_dir (pgserver).
    database_url: str | None = None
    # Unset: in-process pub/sub and in-process throttling buckets.
    redis_url: str | None = None
    redis_key_prefix: str = "gw:"
    data_dir: Path = Path(".data")

    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"] = "HS256"
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "b2b-gateway"
    jwt_audience: str = "b2b-gateway-clients"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)

    # Failed logins per email inside the window before login answers THROTTLED.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)

    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    max_query_depth: int = Field(default=12, ge=2)
    # Aliases multiply the work of one field; tokens bound the parser's work on a document.
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5000, ge=100)
    allowed_origins: tuple[str, ...] = ()

    db_pool_size: int = Field(default=10, ge=1)

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if url.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if not url.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql:// URL")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return url

    @model_validator(mode="after")
    def _production_is_configured(self) -> Settings:
        asymmetric = self.jwt_algorithm not in ("HS256", "HS384", "HS512")
        if asymmetric and not (self.jwt_private_key_file and self.jwt_public_key_file):
            raise ValueError(
                f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PRIVATE_KEY_FILE and "
                "JWT_PUBLIC_KEY_FILE"
            )
        if not asymmetric and len(self.jwt_secret) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters")
        if self.environment == "production":
            if not asymmetric and self.jwt_secret == DEFAULT_JWT_SECRET:
                raise ValueError("production refuses the default JWT_SECRET: set your own")
            if self.database_url is None:
                raise ValueError("production needs DATABASE_URL (no embedded PostgreSQL)")
        return self


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
