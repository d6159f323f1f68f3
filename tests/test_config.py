"""Settings: environment parsing, validation messages, derived headers, secrecy."""

from __future__ import annotations

import base64
import dataclasses
import logging

import pytest

from cwm_gateway import config
from cwm_gateway.config import Settings
from cwm_gateway.errors import ConfigError

SECRET = "pr1vate-K3y-value"
GOOD_ENV = {
    "CONNECTWISE_API_URL": "https://api-na.myconnectwise.net/v4_6_release/apis/3.0",
    "CONNECTWISE_COMPANY_ID": "acme",
    "CONNECTWISE_PUBLIC_KEY": "PubKey123",
    "CONNECTWISE_PRIVATE_KEY": SECRET,
    "CONNECTWISE_CLIENT_ID": "0f3c2c8e-1d2b-4b7a-9c55-5b1f1c2d3e4f",
}


def env(**changes: str | None) -> dict[str, str]:
    out = dict(GOOD_ENV)
    for key, value in changes.items():
        name = f"CONNECTWISE_{key}"
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


@pytest.fixture(autouse=True)
def _fresh_warning():
    config._reset_client_id_warning()
    yield
    config._reset_client_id_warning()


def test_from_env_reads_every_connection_setting():
    s = Settings.from_env(env(CONNECT_TIMEOUT="3", READ_TIMEOUT="45", MAX_ATTEMPTS="2"))
    assert s.company_id == "acme"
    assert s.public_key == "PubKey123"
    assert s.private_key == SECRET
    assert s.api_url == GOOD_ENV["CONNECTWISE_API_URL"]
    assert (s.connect_timeout, s.read_timeout, s.max_attempts) == (3.0, 45.0, 2)


def test_auth_headers_follow_the_connectwise_convention():
    s = Settings.from_env(env())
    headers = s.auth_headers()
    expected = base64.b64encode(f"acme+PubKey123:{SECRET}".encode()).decode()
    assert headers["Authorization"] == f"Basic {expected}"
    assert headers["clientId"] == GOOD_ENV["CONNECTWISE_CLIENT_ID"]
    assert headers["Accept"] == "application/vnd.connectwise.com+json; version=2025.1"


def test_accept_version_defaults_to_the_generated_spec_version():
    registry = pytest.importorskip("cwm_generated.registry")
    s = Settings.from_env(env())
    assert s.accept_header.endswith(f"version={registry.SPEC_VERSION}")


def test_api_version_and_accept_are_overridable():
    s = Settings.from_env(env(API_VERSION="2023.2"))
    assert s.accept_header == "application/vnd.connectwise.com+json; version=2023.2"
    s = Settings.from_env(env(ACCEPT="application/json"))
    assert s.accept_header == "application/json"


def test_auth_prefix_replaces_the_company_plus_prefix():
    s = Settings.from_env(env(AUTH_PREFIX="other+"))
    assert s.username == "other+PubKey123"
    # An explicit empty prefix is allowed as an argument (env empties count as unset).
    assert Settings.from_env(env(), auth_prefix="").username == "PubKey123"
    assert Settings.from_env(env(AUTH_PREFIX="")).username == "acme+PubKey123"


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({})
    text = str(info.value)
    for var in (
        "CONNECTWISE_COMPANY_ID",
        "CONNECTWISE_PUBLIC_KEY",
        "CONNECTWISE_PRIVATE_KEY",
        "CONNECTWISE_API_URL",
    ):
        assert var in text
    assert "CONNECTWISE_SITE" in text  # the alternative to the API URL is offered
    assert "e.g." in text  # and what good values look like


def test_every_malformed_variable_is_named_at_once_with_an_example():
    bad = env(
        CONNECT_TIMEOUT="soon",
        READ_TIMEOUT="-1",
        MAX_ATTEMPTS="0",
        API_VERSION="latest",
        API_URL="https://api-na.myconnectwise.net/",
        COMPANY_ID="my company",
        ALLOW_HTTP="maybe",
    )
    with pytest.raises(ConfigError) as info:
        Settings.from_env(bad)
    text = str(info.value)
    for var, example in (
        ("CONNECTWISE_CONNECT_TIMEOUT", "e.g. 10"),
        ("CONNECTWISE_READ_TIMEOUT", "e.g. 30"),
        ("CONNECTWISE_MAX_ATTEMPTS", "1 to 10"),
        ("CONNECTWISE_API_VERSION", "2025.1"),
        ("CONNECTWISE_API_URL", "/apis/3.0"),
        ("CONNECTWISE_COMPANY_ID", "no spaces"),
        ("CONNECTWISE_ALLOW_HTTP", "true or false"),
    ):
        line = next((ln for ln in text.splitlines() if var in ln), "")
        assert example in line, (var, text)


def test_constructor_errors_name_arguments_not_variables():
    with pytest.raises(ConfigError) as info:
        Settings(company_id="acme", public_key="", private_key="x", site="na", read_timeout=0)
    text = str(info.value)
    assert "public_key is missing" in text
    assert "read_timeout" in text
    assert "CONNECTWISE_PUBLIC_KEY" not in text


def test_private_key_never_appears_in_errors():
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env(PRIVATE_KEY=f" {SECRET} ", PUBLIC_KEY="has space"))
    assert SECRET not in str(info.value)
    assert "CONNECTWISE_PRIVATE_KEY has leading/trailing whitespace" in str(info.value)


def test_repr_and_str_hide_the_private_key_and_authorization():
    s = Settings.from_env(env())
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert SECRET not in text
        assert s.authorization_header() not in text
        assert "private_key='***'" in text


def test_settings_are_frozen_and_replace_revalidates():
    s = Settings.from_env(env())
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.private_key = "other"  # type: ignore[misc]
    assert s.replace(read_timeout=5).read_timeout == 5.0
    with pytest.raises(ConfigError, match="read_timeout"):
        s.replace(read_timeout=-5)


def test_api_url_is_normalized_and_checked():
    s = Settings.from_env(env(API_URL=GOOD_ENV["CONNECTWISE_API_URL"] + "/"))
    assert s.api_url == GOOD_ENV["CONNECTWISE_API_URL"]
    with pytest.raises(ConfigError, match="credentials"):
        Settings.from_env(env(API_URL="https://u:p@h.example.com/v4_6_release/apis/3.0"))


def test_plain_http_only_to_loopback_unless_allowed():
    with pytest.raises(ConfigError, match="unencrypted"):
        Settings.from_env(env(API_URL="http://cw.example.com/v4_6_release/apis/3.0"))
    assert Settings.from_env(env(API_URL="http://127.0.0.1:8080/v4_6_release/apis/3.0"))
    assert Settings.from_env(
        env(API_URL="http://cw.example.com/v4_6_release/apis/3.0", ALLOW_HTTP="true")
    )


@pytest.mark.parametrize(
    ("site", "base"),
    [
        ("na", "https://api-na.myconnectwise.net"),
        ("EU", "https://api-eu.myconnectwise.net"),
        ("aus", "https://api-aus.myconnectwise.net"),
        ("za", "https://api-za.myconnectwise.net"),
        ("cw.example.com", "https://cw.example.com"),
        ("https://cw.example.com:8443/", "https://cw.example.com:8443"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ],
)
def test_site_names_regions_hosts_or_base_urls(site, base):
    s = Settings.from_env(env(API_URL=None, SITE=site))
    assert s.api_url is None
    assert s.site_base_url == base


def test_site_and_api_url_together_is_an_error():
    with pytest.raises(ConfigError, match="only one"):
        Settings.from_env(env(SITE="na"))


def test_bad_site_is_explained():
    with pytest.raises(ConfigError, match="CONNECTWISE_SITE.*region"):
        Settings.from_env(env(API_URL=None, SITE="not a host/"))


def test_client_id_falls_back_to_company_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="cwm_gateway.config")
    s = Settings.from_env(env(CLIENT_ID=None))
    Settings.from_env(env(CLIENT_ID=None))
    Settings(company_id="acme", public_key="p", private_key="k", site="na")
    assert s.auth_headers()["clientId"] == "acme"
    warnings = [r for r in caplog.records if "clientId" in r.getMessage()]
    assert len(warnings) == 1
    assert "CONNECTWISE_CLIENT_ID" in warnings[0].getMessage()
    assert SECRET not in caplog.text


def test_no_warning_with_a_client_id(caplog):
    caplog.set_level(logging.WARNING, logger="cwm_gateway.config")
    Settings.from_env(env())
    assert not caplog.records


def test_unknown_override_is_named():
    with pytest.raises(ConfigError, match="timeout_s"):
        Settings.from_env(env(), timeout_s=3)


def test_from_env_uses_the_process_environment(monkeypatch):
    for key, value in GOOD_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CONNECTWISE_READ_TIMEOUT", "12.5")
    assert Settings.from_env().read_timeout == 12.5
