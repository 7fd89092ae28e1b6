import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from settings import DEFAULT_JWT_SECRET, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_postgres_urls_get_the_asyncpg_driver():
    settings = Settings(database_url="postgresql://u@h:5432/d")
    assert settings.database_url == "postgresql+asyncpg://u@h:5432/d"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL"),
        ("JWT_SECRET", "short", "JWT_SECRET"),
        ("ACCESS_TOKEN_TTL_SECONDS", "not-a-number", "ACCESS_TOKEN_TTL_SECONDS"),
        ("ALLOWED_ORIGINS", "foo", "ALLOWED_ORIGINS"),
        ("QUOTE_EXPIRY_SCHEDULE", "every minute", "QUOTE_EXPIRY_SCHEDULE"),
        ("RUN_WORKER", "maybe", "RUN_WORKER"),
    ],
)
def test_a_bad_setting_is_one_readable_line(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert named in message


def _write_key_pair(
    directory: Path, name: str, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    private_file, public_file = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private_file.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_file.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_file, public_file


def _use_keys(monkeypatch, algorithm: str, private_file: Path, public_file: Path) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", algorithm)
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(private_file))
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(public_file))


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_matching_key_files_are_accepted(monkeypatch, tmp_path):
    _use_keys(monkeypatch, "ES256", *_write_key_pair(tmp_path, "ec", _ec()))
    assert load_settings().jwt_algorithm == "ES256"
    _use_keys(monkeypatch, "RS256", *_write_key_pair(tmp_path, "rsa", _rsa()))
    assert load_settings().jwt_algorithm == "RS256"


def _missing_private(tmp_path: Path) -> tuple[str, Path, Path]:
    _, public_file = _write_key_pair(tmp_path, "ec", _ec())
    return "ES256", tmp_path / "nowhere.pem", public_file


def _missing_public(tmp_path: Path) -> tuple[str, Path, Path]:
    private_file, _ = _write_key_pair(tmp_path, "ec", _ec())
    return "ES256", private_file, tmp_path / "nowhere.pub.pem"


def _rsa_key_with_es256(tmp_path: Path) -> tuple[str, Path, Path]:
    return "ES256", *_write_key_pair(tmp_path, "rsa", _rsa())


def _keys_of_two_pairs(tmp_path: Path) -> tuple[str, Path, Path]:
    private_file, _ = _write_key_pair(tmp_path, "one", _ec())
    _, public_file = _write_key_pair(tmp_path, "two", _ec())
    return "ES256", private_file, public_file


def _public_key_as_private(tmp_path: Path) -> tuple[str, Path, Path]:
    _, public_file = _write_key_pair(tmp_path, "rsa", _rsa())
    return "RS256", public_file, public_file


def _not_a_key(tmp_path: Path) -> tuple[str, Path, Path]:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    return "EdDSA", junk, junk


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (_missing_private, "JWT_PRIVATE_KEY_FILE"),
        (_missing_public, "JWT_PUBLIC_KEY_FILE"),
        (_rsa_key_with_es256, "JWT_PRIVATE_KEY_FILE"),
        (_keys_of_two_pairs, "JWT_PUBLIC_KEY_FILE"),
        (_public_key_as_private, "JWT_PRIVATE_KEY_FILE"),
        (_not_a_key, "JWT_PRIVATE_KEY_FILE"),
    ],
    ids=[
        "missing-private",
        "missing-public",
        "rsa-for-es256",
        "mismatched-pair",
        "public-as-private",
        "junk",
    ],
)
def test_unusable_key_files_are_one_readable_line(monkeypatch, tmp_path, make, named):
    algorithm, private_file, public_file = make(tmp_path)
    _use_keys(monkeypatch, algorithm, private_file, public_file)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert named in message, message


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    monkeypatch.setenv("JWT_SECRET", DEFAULT_JWT_SECRET)
    with pytest.raises(SettingsError, match="default JWT_SECRET"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value"), [("PASSWORD_HASH_TIME_COST", "2"), ("PASSWORD_HASH_MEMORY_KIB", "32768")]
)
def test_production_refuses_an_argon2_cost_under_the_floor(monkeypatch, variable, value):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    monkeypatch.setenv("JWT_SECRET", "a-production-secret-" + "p" * 32)
    assert load_settings().password_hash_time_cost == 3  # the defaults are the floor
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match="argon2 cost"):
        load_settings()
    # Elsewhere (the test suite) a smaller cost is allowed.
    monkeypatch.setenv("ENVIRONMENT", "test")
    assert load_settings().password_hash_memory_kib > 0


def test_the_first_sign_in_delay_is_not_longer_than_the_longest(monkeypatch):
    monkeypatch.setenv("LOGIN_FIRST_DELAY_SECONDS", "600")
    monkeypatch.setenv("LOGIN_MAX_DELAY_SECONDS", "300")
    with pytest.raises(SettingsError, match="LOGIN_FIRST_DELAY_SECONDS"):
        load_settings()


def test_the_command_line_stops_with_one_line_and_no_traceback():
    environment = {**os.environ, "DATABASE_URL": "mysql://root@localhost/db"}
    result = subprocess.run(
        [sys.executable, "server.py", "print-schema"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], result.stderr
