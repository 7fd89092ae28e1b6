"""Access tokens (short-lived JWTs) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from auth.viewer import Viewer
from domain.identity import CompanyRole, MemberRole
from settings import Settings

SYMMETRIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


class InvalidTokenError(Exception):
    """The bearer token is forged, expired, of the wrong audience or otherwise unusable."""


@dataclass(frozen=True, slots=True)
class TokenConfig:
    algorithm: str
    signing_key: str
    verifying_key: str
    issuer: str
    audience: str
    access_ttl_seconds: int

    @classmethod
    def build(
        cls,
        *,
        algorithm: str,
        secret: str,
        private_key_pem: str | None,
        public_key_pem: str | None,
        issuer: str,
        audience: str,
        access_ttl_seconds: int,
    ) -> TokenConfig:
        if algorithm in SYMMETRIC_ALGORITHMS:
            signing = verifying = secret
        else:
            if private_key_pem is None or public_key_pem is None:
                raise ValueError(f"{algorithm} needs a private and a public key")
            signing, verifying = private_key_pem, public_key_pem
        return cls(algorithm, signing, verifying, issuer, audience, access_ttl_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenConfig:
        # The key files were read (and checked to be one pair) when the settings were loaded.
        private_pem, public_pem = settings.jwt_key_pems or (None, None)
        return cls.build(
            algorithm=settings.jwt_algorithm,
            secret=settings.jwt_secret,
            private_key_pem=private_pem,
            public_key_pem=public_pem,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl_seconds=settings.access_token_ttl_seconds,
        )


def issue_access_token(config: TokenConfig, viewer: Viewer, *, now: float | None = None) -> str:
    issued_at = int(now if now is not None else time.time())
    claims = {
        "sub": str(viewer.user_id),
        "cid": str(viewer.company_id) if viewer.company_id else None,
        "mrole": viewer.member_role.value if viewer.member_role else None,
        "roles": sorted(role.value for role in viewer.roles),
        "iss": config.issuer,
        "aud": config.audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + config.access_ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, config.signing_key, algorithm=config.algorithm)


def decode_access_token(config: TokenConfig, token: str) -> Viewer:
    try:
        claims = jwt.decode(
            token,
            config.verifying_key,
            # Only the configured algorithm: never "none", never HS256 with a public key.
            algorithms=[config.algorithm],
            audience=config.audience,
            issuer=config.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=5,
        )
        company = claims.get("cid")
        member_role = claims.get("mrole")
        return Viewer(
            user_id=uuid.UUID(claims["sub"]),
            company_id=uuid.UUID(company) if company else None,
            member_role=MemberRole(member_role) if member_role else None,
            roles=frozenset(CompanyRole(role) for role in claims.get("roles", [])),
            expires_at=float(claims["exp"]),
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("the access token has expired") from None
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        raise InvalidTokenError("the access token is invalid") from None


def new_refresh_token() -> tuple[str, bytes]:
    """A random opaque token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    # A fast hash is enough: the token has 256 bits of entropy, unlike a password.
    return hashlib.sha256(token.encode()).digest()
