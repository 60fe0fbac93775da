"""Settings: environment and .env in the working directory; the token never shows in repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from dversum_mcp.config import DEFAULT_BASE_URL, Secret, Settings


def test_env_parsing() -> None:
    settings = Settings.load(
        {
            "DVERSUM_API_TOKEN": " dvk_live_abc ",
            "DVERSUM_LANGUAGE": "EN",
            "DVERSUM_TOOLSETS": "invoices, time",
            "DVERSUM_READ_ONLY": "true",
            "DVERSUM_FILE_ROOTS": "/tmp/a:/tmp/b",
            "DVERSUM_NO_CONFIRM": "1",
        }
    )
    assert settings.token.reveal() == "dvk_live_abc" and not settings.sandbox
    assert settings.language == "en" and settings.toolsets == ("invoices", "time") and settings.read_only
    assert settings.file_roots == (Path("/tmp/a"), Path("/tmp/b")) and settings.confirm is False
    assert settings.base_url == DEFAULT_BASE_URL
    assert "dvk_live_abc" not in repr(settings) and "dvk_live_abc" not in str(settings.token)
    assert Settings.load({}).sandbox


def test_dotenv_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DVERSUM_API_TOKEN=dvk_from_dotenv\nDVERSUM_LANGUAGE=en\n")
    monkeypatch.chdir(tmp_path)
    for name in ("DVERSUM_API_TOKEN", "DVERSUM_LANGUAGE"):
        monkeypatch.setenv(name, "placeholder")  # remember the original state so load_dotenv's writes are undone
        monkeypatch.delenv(name)
    settings = Settings.load()
    assert settings.token == Secret("dvk_from_dotenv") and settings.language == "en"
    monkeypatch.setenv("DVERSUM_API_TOKEN", "dvk_env_wins")
    assert Settings.load().token.reveal() == "dvk_env_wins"
