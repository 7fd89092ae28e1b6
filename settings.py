"""Typed settings, read once from the environment (and an optional `.env` file)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import jwt
from croniter import croniter
from jwt.algorithms import get_default_algorithms
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as UnparsableSettingError

# An HTTP header name (RFC 9110's token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

DEFAULT_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105
# argon2id's cost floor in production: RFC 9106's low-memory profile (argon2-cffi's default).
PRODUCTION_HASH_TIME_COST = 3
PRODUCTION_HASH_MEMORY_KIB = 65_536


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
    # How long a sign-in lasts: rotating the refresh token does not extend it.
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)

    # Sign-in protection (auth/login_throttle.py; the README's "Sign-in protection"). Attempts
    # are counted per email from one client address (LOGIN_MAX_FAILURES free), per client
    # address over all emails (spraying) and per email from addresses it never signed in from
    # (distributed guessing). Past the free ones each attempt waits a delay that doubles from
    # the first to the longest (THROTTLED with retryAfterSeconds); never a hard lockout. Counts
    # are forgotten after the window passes without an attempt. An address the email signed in
    # from within the last LOGIN_KNOWN_ADDRESS_DAYS is not slowed by attempts from elsewhere.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_attempts_per_address: int = Field(default=100, ge=1)
    login_max_attempts_per_email: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_first_delay_seconds: int = Field(default=10, ge=1)
    login_max_delay_seconds: int = Field(default=300, ge=1)
    login_known_address_days: int = Field(default=30, ge=1, le=365)
    # argon2id cost (auth/passwords.py). The defaults are RFC 9106's low-memory profile
    # (t=3, 64 MiB), which production refuses to go under; the test suite uses less so that
    # its speed does not depend on the machine's.
    password_hash_time_cost: int = Field(default=PRODUCTION_HASH_TIME_COST, ge=1)
    password_hash_memory_kib: int = Field(default=PRODUCTION_HASH_MEMORY_KIB, ge=1024)
    # Registrations per client IP inside the window before register answers THROTTLED. The
    # default suits development and tests (a test run registers hundreds of accounts from one
    # address); a public deployment should lower it (e.g. 20), keeping in mind that an office
    # behind one NAT address counts as one client.
    register_max_per_window: int = Field(default=1000, ge=1)
    register_window_seconds: int = Field(default=3600, ge=1)

    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    max_query_depth: int = Field(default=12, ge=2)
    # Aliases multiply the work of one field; tokens bound the parser's work on a document.
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5000, ge=100)
    # Static cost (gateway/cost.py): one full catalog page of 100 products costs ~3 900.
    max_query_cost: int = Field(default=5000, ge=10)
    # Distinct root fields (response keys) in one operation (QUERY_TOO_COMPLEX).
    max_root_fields: int = Field(default=20, ge=1)
    # Operations in one JSON array body (Apollo's batching); 0 refuses batches.
    max_batch_size: int = Field(default=10, ge=0, le=100)
    # Queries and mutations still running after this are cancelled (TIMEOUT); subscriptions
    # are long-lived by design and exempt.
    max_execution_seconds: float = Field(default=10, gt=0)
    # Who may query __schema / __type: on, authenticated (signed-in viewers), off. Unset: on,
    # except authenticated in production; see `introspection_mode`.
    introspection: Literal["on", "authenticated", "off"] | None = None
    # Persisted queries (gateway/persisted.py): a JSON manifest of trusted documents by their
    # SHA-256 (a plain {"<sha256>": "<document>"} map or Apollo's persisted query manifest),
    # checked here at start-up; with TRUSTED_DOCUMENTS_ONLY nothing else runs.
    trusted_documents_file: Path | None = None
    trusted_documents_only: bool = False
    # Rate limit by query cost (gateway/rate_limit.py): a bucket of points per viewer (user, or
    # client IP when anonymous), charged the requested cost up front and refunded what the
    # answer did not use; it refills at the restore rate (points a second). A request the
    # bucket cannot pay is refused (THROTTLED, 429 + Retry-After). Capacity 0 turns it off.
    rate_limit_capacity: int = Field(default=10_000, ge=0)
    rate_limit_restore_rate: float = Field(default=500, gt=0)
    allowed_origins: tuple[str, ...] = ()
    # Request headers browsers may send cross-origin beyond those gateway/headers.py always
    # allows (a JSON list of header names, e.g. ["x-tenant"]).
    allowed_headers: tuple[str, ...] = ()
    # The self-hosted GraphiQL IDE on GET /graphql for browsers (gateway/graphiql.py). Unset:
    # on, except in production; see `graphiql_enabled`.
    allow_graphiql: bool | None = None

    # Subscriptions: events a subscriber may fall behind before it is ended (SLOW_CONSUMER),
    # operations per WebSocket, and client messages per second per WebSocket (burst twice that)
    # before the socket is closed with 4429.
    subscriber_queue_size: int = Field(default=100, ge=1)
    max_subscriptions_per_connection: int = Field(default=20, ge=1)
    max_ws_messages_per_second: int = Field(default=20, ge=1)
    # Background jobs (jobs/, on pgqueuer): `serve` runs a worker in-process unless this is
    # false (then run `server.py worker` processes). Quote expiry runs on this cron schedule
    # (six fields: the last one is seconds), once per tick whatever the number of workers.
    run_worker: bool = True
    quote_expiry_schedule: str = "* * * * * */30"
    # Published outbox events older than this are deleted (hourly); `since` can resume from
    # within this window only.
    outbox_retention_days: int = Field(default=30, ge=1)

    # Anonymous catalog reads (gateway/response_cache.py): how long a whole answer is reused;
    # 0 turns the cache off.
    response_cache_ttl_seconds: int = Field(default=30, ge=0, le=3600)

    # Per worker, plus as many again in overflow. Loaders check out a connection per batch and
    # sibling batches run at once, so a request may hold up to three: size for concurrency.
    db_pool_size: int = Field(default=20, ge=1)

    # GET /metrics (gateway/metrics.py) answers loopback clients; anyone else needs
    # `Authorization: Bearer <this>`. Unset: other clients get 404.
    metrics_token: str | None = Field(default=None, min_length=16)

    # The key files of an asymmetric JWT_ALGORITHM as read (once) by the start-up check:
    # (private file, public file, private PEM, public PEM). See `jwt_key_pems`.
    _jwt_keys: tuple[Path, Path, str, str] | None = PrivateAttr(default=None)

    @property
    def jwt_key_pems(self) -> tuple[str, str] | None:
        """The (private, public) PEM texts for an asymmetric JWT_ALGORITHM, read when the
        settings were checked (one reading serves the check and the tokens); None for HS*."""
        symmetric = self.jwt_algorithm in ("HS256", "HS384", "HS512")
        if symmetric or self.jwt_private_key_file is None or self.jwt_public_key_file is None:
            return None
        files = (self.jwt_private_key_file, self.jwt_public_key_file)
        if self._jwt_keys is None or self._jwt_keys[:2] != files:
            # A model_copy() naming other files skips validation: check those before use.
            self._check_key_files()
        assert self._jwt_keys is not None
        return self._jwt_keys[2], self._jwt_keys[3]

    # The manifest's documents, read once at validation and kept with the file they came from
    # (model_copy keeps private attributes: a copy naming another file reads that one).
    _trusted_documents: tuple[Path, Mapping[str, str]] | None = PrivateAttr(default=None)

    @property
    def trusted_documents(self) -> Mapping[str, str]:
        """The documents of TRUSTED_DOCUMENTS_FILE by SHA-256 (lowercase hex); none unset."""
        path = self.trusted_documents_file
        if path is None:
            return MappingProxyType({})
        if self._trusted_documents is None or self._trusted_documents[0] != path:
            self._trusted_documents = (path, MappingProxyType(read_trusted_documents(path)))
        return self._trusted_documents[1]

    @property
    def graphiql_enabled(self) -> bool:
        """ALLOW_GRAPHIQL when set, else on in development and test, off in production."""
        if self.allow_graphiql is not None:
            return self.allow_graphiql
        return self.environment != "production"

    @property
    def introspection_mode(self) -> Literal["on", "authenticated", "off"]:
        """INTROSPECTION when set, else on in development and test, authenticated in
        production."""
        if self.introspection is not None:
            return self.introspection
        return "authenticated" if self.environment == "production" else "on"

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

    @field_validator("quote_expiry_schedule")
    @classmethod
    def _cron_expression(cls, expression: str) -> str:
        if not croniter.is_valid(expression):
            raise ValueError(f"{expression!r} is not a cron expression")
        return expression

    @field_validator("allowed_headers")
    @classmethod
    def _header_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return tuple(name.lower() for name in names)

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
        if asymmetric:
            self._check_key_files()
        if not asymmetric and len(self.jwt_secret) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters")
        if self.environment == "production":
            if not asymmetric and self.jwt_secret == DEFAULT_JWT_SECRET:
                raise ValueError("production refuses the default JWT_SECRET: set your own")
            if self.database_url is None:
                raise ValueError("production needs DATABASE_URL (no embedded PostgreSQL)")
            if (
                self.password_hash_time_cost < PRODUCTION_HASH_TIME_COST
                or self.password_hash_memory_kib < PRODUCTION_HASH_MEMORY_KIB
            ):
                raise ValueError(
                    "production refuses an argon2 cost under PASSWORD_HASH_TIME_COST="
                    f"{PRODUCTION_HASH_TIME_COST} and PASSWORD_HASH_MEMORY_KIB="
                    f"{PRODUCTION_HASH_MEMORY_KIB}"
                )
        if self.login_first_delay_seconds > self.login_max_delay_seconds:
            raise ValueError("LOGIN_FIRST_DELAY_SECONDS must not exceed LOGIN_MAX_DELAY_SECONDS")
        if self.trusted_documents_only and self.trusted_documents_file is None:
            raise ValueError("TRUSTED_DOCUMENTS_ONLY needs TRUSTED_DOCUMENTS_FILE")
        if self.trusted_documents_file is not None:
            _ = self.trusted_documents  # read now: a bad manifest stops start-up
        return self

    def _check_key_files(self) -> None:
        # Here rather than at the first sign-in: a missing file or a key of the wrong kind is
        # one line at start-up. Signing and verifying a probe also catches a public key given
        # as the private one and two files that are not one pair.
        algorithm = get_default_algorithms()[self.jwt_algorithm]
        assert self.jwt_private_key_file and self.jwt_public_key_file
        private_file, public_file = self.jwt_private_key_file, self.jwt_public_key_file
        private_pem = _read_key_file("JWT_PRIVATE_KEY_FILE", private_file)
        public_pem = _read_key_file("JWT_PUBLIC_KEY_FILE", public_file)
        try:
            signature = algorithm.sign(b"probe", algorithm.prepare_key(private_pem))
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            raise ValueError(
                f"JWT_PRIVATE_KEY_FILE: {private_file} holds no private key usable with "
                f"JWT_ALGORITHM={self.jwt_algorithm}"
            ) from None
        try:
            matches = algorithm.verify(b"probe", algorithm.prepare_key(public_pem), signature)
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            matches = False
        if not matches:
            raise ValueError(
                f"JWT_PUBLIC_KEY_FILE: {public_file} is not the public key of "
                f"JWT_PRIVATE_KEY_FILE for JWT_ALGORITHM={self.jwt_algorithm}"
            )
        self._jwt_keys = (private_file, public_file, private_pem, public_pem)


def _read_key_file(variable: str, path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "unreadable"
        raise ValueError(f"{variable}: cannot read {path} ({reason})") from None


APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"


def read_trusted_documents(path: Path) -> dict[str, str]:
    """The documents of a trusted-documents manifest by SHA-256 (lowercase hex): a plain
    {"<sha256>": "<document>"} map (GraphQL Codegen's client preset) or Apollo's
    {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "body",
    "name", "type"}]}. Each hash must be its document's SHA-256: clients send the hash, and a
    wrong one would run another document than the client meant."""
    variable = "TRUSTED_DOCUMENTS_FILE"
    try:
        manifest = json.loads(path.read_bytes())
    except OSError as error:
        reason = error.strerror or "unreadable"
        raise ValueError(f"{variable}: cannot read {path} ({reason})") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{variable}: {path} is not a JSON document") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{variable}: {path} must hold a JSON object")
    entries: list[tuple[str, object, str]] = []
    if manifest.get("format") == APOLLO_MANIFEST_FORMAT:
        operations = manifest.get("operations")
        if manifest.get("version") != 1 or not isinstance(operations, list):
            raise ValueError(
                f"{variable}: {path} is not an {APOLLO_MANIFEST_FORMAT} of version 1 with a "
                "list of operations"
            )
        for index, operation in enumerate(operations):
            if not isinstance(operation, dict) or not isinstance(operation.get("id"), str):
                raise ValueError(f"{variable}: operations[{index}] has no string id")
            label = operation.get("name") or f"operations[{index}]"
            entries.append((operation["id"], operation.get("body"), str(label)))
    else:
        entries = [(key, value, key[:16]) for key, value in manifest.items()]
    documents: dict[str, str] = {}
    for key, document, label in entries:
        if not isinstance(document, str) or not document.strip():
            raise ValueError(f"{variable}: the document of {label} is not a non-empty string")
        digest = key.removeprefix("sha256:").lower()
        if digest != hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest():
            raise ValueError(
                f"{variable}: the hash of {label} is not the SHA-256 of its document "
                "(GraphQL Codegen: persistedDocuments.hashAlgorithm 'sha256')"
            )
        documents[digest] = document
    if not documents:
        raise ValueError(f"{variable}: {path} lists no documents")
    return documents


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
    except UnparsableSettingError as exc:
        # pydantic-settings' own error, raised before validation when a list-valued variable
        # is not JSON; it names the field as `field "allowed_origins"`.
        named = re.search(r'field "(\w+)"', str(exc))
        variable = named.group(1).upper() if named else "settings"
        raise SettingsError(
            f"invalid settings: {variable}: could not be parsed; a list is written in JSON, "
            'e.g. ["https://shop.example"]'
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
