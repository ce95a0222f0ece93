"""Settings: defaults, HEADWATER_* variables, headwater.yml, and errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.config import Settings, load_settings
from headwater.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray HEADWATER_* variable or headwater.yml from the developer's shell leaks in."""
    import os

    for name in list(os.environ):
        if name.startswith("HEADWATER_") and name != "HEADWATER_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_embedded_sqlite_on_loopback_port_5000() -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 5000
    assert settings.resolved_database_url == "sqlite:///.headwater/headwater.db"
    assert settings.max_body_bytes == 5 * 1024 * 1024


def test_environment_variables_override_the_yaml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "headwater.yml").write_text("port: 6000\nlog_level: debug\n")
    monkeypatch.setenv("HEADWATER_PORT", "7000")
    settings = load_settings()
    assert settings.port == 7000
    assert settings.log_level == "debug"


def test_explicit_arguments_override_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADWATER_PORT", "7000")
    assert load_settings(port=8000).port == 8000


def test_headwater_config_points_at_another_yaml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere.yml"
    other.write_text("database_url: postgresql+psycopg://u@db:5432/lineage\n")
    monkeypatch.setenv("HEADWATER_CONFIG", str(other))
    assert load_settings().resolved_database_url == "postgresql+psycopg://u@db:5432/lineage"


@pytest.mark.parametrize(
    ("variable", "value", "setting", "why"),
    [
        ("HEADWATER_PORT", "seventy", "port", "integer"),
        ("HEADWATER_PORT", "70000", "port", "less than or equal to 65535"),
        ("HEADWATER_MAX_BODY_BYTES", "0", "max_body_bytes", "greater than 0"),
        ("HEADWATER_DATABASE_URL", "mysql://x", "database_url", "sqlite:// or postgresql"),
        ("HEADWATER_LOG_LEVEL", "loud", "log_level", "must be one of"),
        ("HEADWATER_WORKERS", "0", "workers", "greater than or equal to 1"),
    ],
)
def test_an_invalid_variable_fails_naming_the_setting_and_why(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, setting: str, why: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == setting
    assert why in caught.value.message


def test_an_unknown_key_in_the_yaml_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "headwater.yml").write_text("prot: 5000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "prot"


def test_a_yaml_file_that_does_not_parse_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "headwater.yml").write_text("port: [5000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "headwater.yml" in caught.value.message


def test_a_missing_headwater_config_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONFIG", "/nonexistent/headwater.yml")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "HEADWATER_CONFIG"


def test_every_setting_is_documented() -> None:
    """docs/configuration.md names every setting and its environment variable."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"`HEADWATER_{name.upper()}`" in docs, name
        assert field.description, f"setting {name} has no description"


def test_a_list_setting_in_the_environment_must_be_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CORS_ORIGINS", "https://a.example")
    with pytest.raises(ConfigError, match="HEADWATER_CORS_ORIGINS: must be a JSON list"):
        load_settings()
    monkeypatch.setenv("HEADWATER_CORS_ORIGINS", '["https://a.example"]')
    assert load_settings().cors_origins == ["https://a.example"]


def test_a_pipeline_projects_file_gives_only_its_settings_block(tmp_path: Path) -> None:
    (tmp_path / "headwater.yml").write_text(
        "name: shop\nnamespace: shop\nthreads: 2\nsettings:\n  port: 5123\n  warehouse: /lake\n"
    )
    settings = load_settings()
    assert (settings.port, settings.warehouse) == (5123, "/lake")
    (tmp_path / "headwater.yml").write_text("name: shop\nsettings:\n  prot: 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings()
