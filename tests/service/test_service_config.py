"""Settings read from RECSYS_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings


def test_settings_defaults(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path)

    assert settings.model_dir == tmp_path
    assert settings.max_n == 100
    assert settings.max_items == 1000
    assert settings.max_id_length == 256
    assert settings.log_level == "INFO"


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("RECSYS_MAX_N", "7")
    monkeypatch.setenv("RECSYS_MAX_ITEMS", "12")
    monkeypatch.setenv("RECSYS_MAX_ID_LENGTH", "64")
    monkeypatch.setenv("RECSYS_LOG_LEVEL", "debug")

    settings = Settings()  # type: ignore[call-arg]

    assert settings.model_dir == tmp_path
    assert settings.max_n == 7
    assert settings.max_items == 12
    assert settings.max_id_length == 64
    assert settings.log_level == "DEBUG"


def test_settings_model_dir_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECSYS_MODEL_DIR", raising=False)

    with pytest.raises(ValidationError, match="model_dir"):
        Settings()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_n", 0), ("max_items", -1), ("max_id_length", 0), ("log_level", "LOUD")],
)
def test_settings_invalid_value(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(model_dir=tmp_path, **{field: value})  # type: ignore[arg-type]
