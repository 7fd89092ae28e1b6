"""Unit tests of auth/tokens.py: access-token JWTs and refresh-token hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth.tokens import (
    InvalidTokenError,
    TokenConfig,
    decode_access_token,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from auth.viewer import Viewer
from domain.identity import CompanyRole, MemberRole
from settings import Settings

SECRET = "unit-test-secret-" + "s" * 32


def hs256(**changes: Any) -> TokenConfig:
    options: dict[str, Any] = {
        "algorithm": "HS256",
        "secret": SECRET,
        "private_key_pem": None,
        "public_key_pem": None,
        "issuer": "test-issuer",
        "audience": "test-audience",
        "access_ttl_seconds": 900,
    }
    options.update(changes)
    return TokenConfig.build(**options)


def full_viewer() -> Viewer:
    return Viewer(
        user_id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        member_role=MemberRole.ADMIN,
        roles=frozenset({CompanyRole.SELLER, CompanyRole.BUYER}),
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def decoded_as(config: TokenConfig, token: str, viewer: Viewer) -> bool:
    """The token speaks for `viewer`, and carries its own expiry (exp) besides."""
    decoded = decode_access_token(config, token)
    return decoded == replace(viewer, expires_at=float(claims_of(token)["exp"]))


def test_round_trip_keeps_the_viewer():
    config = hs256()
    viewer = full_viewer()
    assert decoded_as(config, issue_access_token(config, viewer), viewer)


def test_round_trip_of_a_user_without_company():
    config = hs256()
    viewer = Viewer(user_id=uuid.uuid4())
    token = issue_access_token(config, viewer)
    assert decoded_as(config, token, viewer)
    decoded = decode_access_token(config, token)
    assert decoded.company_id is None and decoded.member_role is None and not decoded.roles


def test_claims_carry_issuer_audience_and_lifetime():
    config = hs256(access_ttl_seconds=120)
    now = time.time()
    claims = claims_of(issue_access_token(config, full_viewer(), now=now))
    assert claims["iss"] == "test-issuer"
    assert claims["aud"] == "test-audience"
    assert claims["iat"] == int(now)
    assert claims["exp"] - claims["iat"] == 120
    assert jwt.get_unverified_header(issue_access_token(config, full_viewer()))["alg"] == "HS256"


def test_each_token_has_its_own_id():
    config = hs256()
    viewer = full_viewer()
    first = claims_of(issue_access_token(config, viewer))
    second = claims_of(issue_access_token(config, viewer))
    assert first["jti"] != second["jti"]


def test_expired_token_is_refused():
    config = hs256(access_ttl_seconds=60)
    token = issue_access_token(config, full_viewer(), now=time.time() - 120)
    with pytest.raises(InvalidTokenError, match="expired"):
        decode_access_token(config, token)


def test_token_issued_a_while_ago_but_unexpired_is_accepted():
    config = hs256(access_ttl_seconds=60)
    viewer = full_viewer()
    token = issue_access_token(config, viewer, now=time.time() - 30)
    assert decoded_as(config, token, viewer)


@pytest.mark.parametrize(
    "verifier",
    [
        {"secret": "another-secret-" + "o" * 32},
        {"audience": "other-audience"},
        {"issuer": "other-issuer"},
        {"algorithm": "HS512"},
    ],
)
def test_token_for_another_configuration_is_refused(verifier):
    token = issue_access_token(hs256(), full_viewer())
    with pytest.raises(InvalidTokenError):
        decode_access_token(hs256(**verifier), token)


def test_alg_none_is_refused():
    config = hs256()
    claims = claims_of(issue_access_token(config, full_viewer()))
    token = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(InvalidTokenError):
        decode_access_token(config, token)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub"])
def test_required_claims(missing):
    config = hs256()
    claims = claims_of(issue_access_token(config, full_viewer()))
    del claims[missing]
    with pytest.raises(InvalidTokenError):
        decode_access_token(config, jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "change",
    [{"sub": "not-a-uuid"}, {"cid": "nope"}, {"mrole": "KING"}, {"roles": ["GOD"]}],
)
def test_malformed_claims_are_refused_as_invalid_tokens(change):
    config = hs256()
    claims = {**claims_of(issue_access_token(config, full_viewer())), **change}
    with pytest.raises(InvalidTokenError):
        decode_access_token(config, jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b"])
def test_garbage_is_refused(token):
    with pytest.raises(InvalidTokenError):
        decode_access_token(hs256(), token)


# --- RS256 ------------------------------------------------------------------------------------


def write_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = directory / f"{name}.pem"
    public = directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    write_key_pair(directory, "main")
    write_key_pair(directory, "other")
    return directory


def rs256(key_dir: Path, private: str = "main", public: str = "main") -> TokenConfig:
    return hs256(
        algorithm="RS256",
        secret="unused",
        private_key_pem=(key_dir / f"{private}.pem").read_text(),
        public_key_pem=(key_dir / f"{public}.pub.pem").read_text(),
    )


def test_rs256_round_trip(key_dir):
    config = rs256(key_dir)
    viewer = full_viewer()
    token = issue_access_token(config, viewer)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert decoded_as(config, token, viewer)


def test_rs256_refuses_a_token_signed_by_another_key(key_dir):
    token = issue_access_token(rs256(key_dir, private="other", public="other"), full_viewer())
    with pytest.raises(InvalidTokenError):
        decode_access_token(rs256(key_dir), token)


def test_rs256_refuses_hs256_signed_with_the_public_key(key_dir):
    """Algorithm confusion: the public key is public, so an HMAC made with it proves nothing."""
    config = rs256(key_dir)
    claims = claims_of(issue_access_token(config, full_viewer()))
    claims["roles"] = ["PLATFORM_ADMIN"]
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(
        config.verifying_key.encode(), signing_input.encode(), hashlib.sha256
    ).digest()
    forged = signing_input + "." + b64(signature)
    with pytest.raises(InvalidTokenError):
        decode_access_token(config, forged)


def test_rs256_refuses_an_hs256_token_with_the_shared_secret(key_dir):
    token = issue_access_token(hs256(secret="unused" + "u" * 32), full_viewer())
    with pytest.raises(InvalidTokenError):
        decode_access_token(rs256(key_dir), token)


def test_asymmetric_algorithm_needs_both_keys(key_dir):
    with pytest.raises(ValueError, match="a private and a public key"):
        hs256(
            algorithm="RS256",
            private_key_pem=(key_dir / "main.pem").read_text(),
            public_key_pem=None,
        )


def test_the_key_files_are_read_once_when_the_settings_are_checked(key_dir, tmp_path):
    private_file, public_file = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    private_file.write_text((key_dir / "main.pem").read_text())
    public_file.write_text((key_dir / "main.pub.pem").read_text())
    settings = Settings(
        jwt_algorithm="RS256", jwt_private_key_file=private_file, jwt_public_key_file=public_file
    )
    private_file.unlink()
    public_file.unlink()
    # The tokens sign and verify with what the start-up check read: no second reading.
    config = TokenConfig.from_settings(settings)
    viewer = full_viewer()
    assert decoded_as(config, issue_access_token(config, viewer), viewer)
    assert config.verifying_key == (key_dir / "main.pub.pem").read_text()


def test_a_settings_copy_naming_other_key_files_checks_them(key_dir):
    settings = Settings(
        jwt_algorithm="RS256",
        jwt_private_key_file=key_dir / "main.pem",
        jwt_public_key_file=key_dir / "main.pub.pem",
    )
    # model_copy() skips validation: the keys are read and checked on use instead.
    mismatched = settings.model_copy(update={"jwt_public_key_file": key_dir / "other.pub.pem"})
    with pytest.raises(ValueError, match="is not the public key"):
        TokenConfig.from_settings(mismatched)
    other = settings.model_copy(
        update={
            "jwt_private_key_file": key_dir / "other.pem",
            "jwt_public_key_file": key_dir / "other.pub.pem",
        }
    )
    assert TokenConfig.from_settings(other).verifying_key == (key_dir / "other.pub.pem").read_text()


# --- refresh tokens ---------------------------------------------------------------------------


def test_refresh_token_hash_is_deterministic_sha256():
    token = "some-opaque-refresh-token"
    digest = hash_refresh_token(token)
    assert isinstance(digest, bytes) and len(digest) == 32
    assert digest == hash_refresh_token(token)
    assert digest != hash_refresh_token(token + "x")


def test_new_refresh_tokens_are_random_and_stored_hashed():
    tokens = [new_refresh_token() for _ in range(50)]
    assert len({token for token, _ in tokens}) == 50
    for token, digest in tokens:
        assert digest == hash_refresh_token(token)
        assert len(token) >= 43  # 32 random bytes, base64url
        assert token.encode() != digest
