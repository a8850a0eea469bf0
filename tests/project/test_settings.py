"""Settings fail at startup with a message that names the variable."""

import pytest

from foundation.constants import DEMO_JWT_SECRET
from foundation.errors import ConfigurationError
from foundation.settings import load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIDINGS_BATCH_SIZE", "0"),
        ("TIDINGS_PORT", "70000"),
        ("TIDINGS_LEASE_SECONDS", "abc"),
        ("TIDINGS_RESOLVERS", "no-colon"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"jwt_secret": "short"}, "at least 32 bytes"),
        ({"jwt_secret": DEMO_JWT_SECRET}, "demo secret"),
        ({"jwt_algorithms": "HS256,RS256"}, "mixing"),
        ({"jwt_algorithms": "none"}, "unsupported"),
    ],
)
def test_auth_settings_are_checked(overrides: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(**overrides)


def test_demo_may_use_the_demo_secret() -> None:
    settings = load_settings(jwt_secret=DEMO_JWT_SECRET, demo=True)
    assert settings.demo


def test_lists_come_from_comma_separated_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    assert load_settings().allowed_origins == ["https://a.example", "https://b.example"]
