import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    ],
)
def test_a_bad_setting_is_one_readable_line(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert named in message


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    monkeypatch.setenv("JWT_SECRET", DEFAULT_JWT_SECRET)
    with pytest.raises(SettingsError, match="default JWT_SECRET"):
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
