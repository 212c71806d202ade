"""Settings are parsed once into typed objects; every mistake names the setting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from loginsite.oidc import ClientConfig
from loginsite.settings import (
    ACR_VERIFIED,
    LanguageSettings,
    SessionKey,
    SessionSettings,
    SettingsError,
    app_settings,
    parse_session_keys,
    parse_settings,
)
from tests.plugins.oidc_provider import TestProvider
from tests.plugins.session_keys import SECRET_1, SECRET_3, SECRET_4, SECRET_16, SECRET_48

ROOT = Path(__file__).resolve().parent.parent
KEY = SECRET_3


def test_valid_development_settings(settings: dict[str, str]) -> None:
    parsed = app_settings(settings, environ={})
    assert parsed.environment == "development"
    assert parsed.public_url == "http://localhost:6543"
    assert [k.kid for k in parsed.session.keys] == ["k2", "k1"]
    assert parsed.session.signing_key.kid == "k2"
    assert parsed.session.idle_timeout == 900
    assert parsed.session.max_age == 43200
    assert parsed.session.cookie_name_on_wire == "loginsite"
    assert parsed.idp.acr_values == ("urn:acr.login.gov:auth-only",)
    assert parsed.idp.scope == ("openid", "email")
    assert parsed.idp.prompt == "select_account"
    assert parsed.redirect_uri == "http://localhost:6543/auth/callback"
    assert parsed.post_logout_redirect_uri == "http://localhost:6543/auth/signed-out"
    assert parsed.revocation.store == "memory"


def test_language_settings(settings: dict[str, str]) -> None:
    assert app_settings(settings, environ={}).languages == LanguageSettings(("en", "es"), "en")
    spanish_first = app_settings(
        {**settings, "loginsite.available_languages": "es en es"}, environ={}
    ).languages
    assert spanish_first == LanguageSettings(("es", "en"), "es")  # the default: the first one
    english_only = app_settings(settings, environ={"LOGINSITE_AVAILABLE_LANGUAGES": "en"}).languages
    assert english_only == LanguageSettings(("en",), "en")


def test_revocation_settings_for_sentinel(settings: dict[str, str]) -> None:
    parsed = app_settings(
        {
            **settings,
            "loginsite.revocation.store": "redis",
            "loginsite.revocation.sentinels": "10.0.0.1:26379 [::1]:26380",
            "loginsite.revocation.sentinel_master": "loginsite",
            "loginsite.revocation.sentinel_password": "s3",
            "loginsite.revocation.max_staleness": "10",
            "loginsite.revocation.journal": "/tmp/j.sqlite3",
        },
        environ={"LOGINSITE_REVOCATION_REDIS_PASSWORD": "p4"},
    )
    revocation = parsed.revocation
    assert revocation.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert revocation.sentinel_master == "loginsite"
    assert revocation.sentinel_password == "s3"
    assert revocation.redis_password == "p4"
    assert revocation.max_staleness == 10.0
    assert str(revocation.journal) == "/tmp/j.sqlite3"
    assert revocation.idle_timeout == parsed.session.idle_timeout
    assert revocation.mac_keys == parsed.session.keys
    assert "p4" not in repr(revocation)
    assert "s3" not in repr(revocation)


def test_revocation_defaults(settings: dict[str, str]) -> None:
    settings = {k: v for k, v in settings.items() if k != "loginsite.revocation.journal"}
    revocation = app_settings(settings, environ={}).revocation
    assert revocation.max_staleness == 30.0
    assert revocation.clock_skew == 5
    assert str(revocation.journal) == "var/revocation-journal.sqlite3"


def test_environment_variables_override_the_ini(settings: dict[str, str]) -> None:
    other = SECRET_4
    parsed = app_settings(
        settings,
        environ={"LOGINSITE_SESSION_KEYS": f"env1:{other}", "LOGINSITE_SESSION_IDLE_TIMEOUT": "60"},
    )
    assert [k.kid for k in parsed.session.keys] == ["env1"]
    assert parsed.session.idle_timeout == 60


def test_environment_cannot_switch_production_to_development(settings: dict[str, str]) -> None:
    prod = {
        **settings,
        "loginsite.environment": "production",
        "loginsite.public_url": "https://apply.example.gov",
        "loginsite.session.secure": "true",
        "loginsite.idp.issuer": "https://secure.login.gov/",
        "loginsite.idp.allow_http": "false",
    }
    parsed = app_settings(prod, environ={"LOGINSITE_ENVIRONMENT": "development"})
    assert parsed.environment == "production"
    with pytest.raises(SettingsError, match="loginsite.idp.allow_http"):
        app_settings(
            prod,
            environ={"LOGINSITE_ENVIRONMENT": "development", "LOGINSITE_IDP_ALLOW_HTTP": "true"},
        )


def test_private_key_may_come_from_the_environment_as_pem(
    settings: dict[str, str], client_key_file: Path
) -> None:
    without = {k: v for k, v in settings.items() if k != "loginsite.idp.private_key"}
    parsed = app_settings(
        without, environ={"LOGINSITE_IDP_PRIVATE_KEY": client_key_file.read_text()}
    )
    assert parsed.idp.private_key_pem.startswith(b"-----BEGIN")


def test_session_keys_file(settings: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"f1:{KEY}\n")
    without = {k: v for k, v in settings.items() if k != "loginsite.session.keys"}
    parsed = app_settings({**without, "loginsite.session.keys_file": str(path)}, environ={})
    assert parsed.session.keys[0].kid == "f1"


def test_secrets_are_not_in_reprs(settings: dict[str, str]) -> None:
    parsed = app_settings(settings, environ={})
    text = repr(parsed)
    assert all(key.secret.hex() not in text for key in parsed.session.keys)
    assert "PRIVATE KEY" not in text


@pytest.mark.parametrize(
    ("change", "setting", "message"),
    [
        ({"loginsite.session.keys": None}, "loginsite.session.keys", "required"),
        ({"loginsite.session.keys": "nokid"}, "loginsite.session.keys", "KID:SECRET"),
        ({"loginsite.session.keys": "k1:short"}, "loginsite.session.keys", "placeholder|bytes"),
        (
            {"loginsite.session.keys": f"k1:{SECRET_16}"},
            "loginsite.session.keys",
            "at least 32",
        ),
        (
            {"loginsite.session.keys": "k1:changeme-changeme-changeme-changeme-changeme"},
            "loginsite.session.keys",
            "placeholder",
        ),
        ({"loginsite.session.keys": "k1:" + "a" * 43}, "loginsite.session.keys", "placeholder"),
        ({"loginsite.session.keys": f"k1:{KEY} k1:{KEY}"}, "loginsite.session.keys", "twice"),
        ({"loginsite.session.keys": f"k/1:{KEY}"}, "loginsite.session.keys", "KID"),
        ({"loginsite.session.idle_timeout": "abc"}, "loginsite.session.idle_timeout", "whole"),
        ({"loginsite.session.idle_timeout": "0"}, "loginsite.session.idle_timeout", "greater"),
        ({"loginsite.session.idle_timeout": "1.5"}, "loginsite.session.idle_timeout", "whole"),
        ({"loginsite.session.max_age": "60"}, "loginsite.session.idle_timeout", "longer"),
        ({"loginsite.session.secure": "maybe"}, "loginsite.session.secure", "true or false"),
        ({"loginsite.session.cookie_name": "a b"}, "loginsite.session.cookie_name", "letters"),
        ({"loginsite.session.cookie_name": "__Host-x"}, "loginsite.session.cookie_name", "__"),
        ({"loginsite.public_url": None}, "loginsite.public_url", "required"),
        ({"loginsite.public_url": "localhost"}, "loginsite.public_url", "absolute"),
        ({"loginsite.public_url": "https://x.gov/app"}, "loginsite.public_url", "origin"),
        ({"loginsite.public_url": "https://u:p@x.gov"}, "loginsite.public_url", "credentials"),
        ({"loginsite.environment": "staging"}, "loginsite.environment", "one of"),
        ({"loginsite.idp.issuer": None}, "loginsite.idp.issuer", "required"),
        ({"loginsite.idp.client_id": None}, "loginsite.idp.client_id", "required"),
        ({"loginsite.idp.private_key": "/nonexistent.pem"}, "loginsite.idp.private_key", "read"),
        ({"loginsite.idp.acr_values": "x"}, "loginsite.idp.acr_values", "service level"),
        ({"loginsite.idp.scope": "email"}, "loginsite.idp.scope", "openid"),
        ({"loginsite.idp.locale": "de"}, "loginsite.idp.locale", "one of"),
        ({"loginsite.available_languages": "en fr"}, "loginsite.available_languages", "'fr'"),
        ({"loginsite.default_locale_name": "fr"}, "loginsite.default_locale_name", "en es"),
        (
            {"loginsite.available_languages": "en", "loginsite.default_locale_name": "es"},
            "loginsite.default_locale_name",
            "available_languages .en., not 'es'",
        ),
        (
            {"loginsite.idp.prompt": "never"},
            "loginsite.idp.prompt",
            "select_account, login, none, consent, not 'never'",
        ),
        ({"loginsite.idp.timeout": "-1"}, "loginsite.idp.timeout", "greater"),
        ({"loginsite.idp.leeway": "9999"}, "loginsite.idp.leeway", "between"),
        ({"loginsite.revocation.store": "disk"}, "loginsite.revocation.store", "one of"),
        ({"loginsite.revocation.store": "redis"}, "loginsite.revocation.redis_url", "required"),
        (
            {"loginsite.revocation.store": "redis", "loginsite.revocation.redis_url": "http://x"},
            "loginsite.revocation.redis_url",
            "redis://",
        ),
        (
            {"loginsite.revocation.failure_mode": "closed"},
            "loginsite.revocation.failure_mode",
            "replaced by loginsite.revocation.max_staleness",
        ),
        (
            {
                "loginsite.revocation.max_staleness": "1",
                "loginsite.revocation.store": "redis",
                "loginsite.revocation.redis_url": "redis://h",
            },
            "loginsite.revocation.max_staleness",
            "at least",
        ),
        ({"loginsite.revocation.clock_skew": "-3"}, "loginsite.revocation.clock_skew", "between"),
        ({"loginsite.revocation.wait_replicas": "x"}, "loginsite.revocation.wait_replicas", "0"),
        (
            {"loginsite.revocation.store": "redis", "loginsite.revocation.sentinels": "h:1 h"},
            "loginsite.revocation.sentinels",
            "host:port",
        ),
        (
            {"loginsite.revocation.store": "redis", "loginsite.revocation.sentinels": "h:26379"},
            "loginsite.revocation.sentinel_master",
            "required",
        ),
        (
            {
                "loginsite.revocation.store": "redis",
                "loginsite.revocation.sentinels": "h:26379",
                "loginsite.revocation.sentinel_master": "m",
                "loginsite.revocation.redis_url": "redis://h",
            },
            "loginsite.revocation.sentinels",
            "only one",
        ),
    ],
)
def test_bad_settings_name_the_setting(
    settings: dict[str, str], change: dict[str, str | None], setting: str, message: str
) -> None:
    merged = {**settings, **change}
    merged = {k: v for k, v in merged.items() if v is not None}
    with pytest.raises(SettingsError, match=message) as info:
        app_settings(merged, environ={})
    assert info.value.setting == setting
    assert str(info.value).startswith(setting)


def test_private_key_must_be_rsa_2048(settings: dict[str, str], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SettingsError, match="RSA"):
        app_settings({**settings, "loginsite.idp.private_key": str(path)}, environ={})


def test_production_refuses_http(settings: dict[str, str]) -> None:
    prod = {
        **settings,
        "loginsite.environment": "production",
        "loginsite.idp.allow_http": "false",
        "loginsite.session.secure": "true",
        "loginsite.idp.issuer": "https://idp.int.identitysandbox.gov/",
    }
    with pytest.raises(SettingsError, match="loginsite.public_url"):
        app_settings(prod, environ={})
    parsed = app_settings({**prod, "loginsite.public_url": "https://apply.example.gov"}, environ={})
    assert parsed.session.cookie_name_on_wire == "__Host-loginsite"
    with pytest.raises(SettingsError, match="loginsite.idp.issuer"):
        app_settings(
            {**prod, "loginsite.public_url": "https://a.gov", "loginsite.idp.issuer": "http://i/"},
            environ={},
        )


def test_step_up_level_is_known() -> None:
    assert ACR_VERIFIED == "urn:acr.login.gov:verified"


@pytest.mark.parametrize(
    "secret",
    [
        "Dummy-value-for-the-test-setup-only-9876543",
        "my_SECRET_session_key_for_local_dev_12345678",
        "xxxxxx1234567890abcdefghijklmnopqrstuvwxyzAB",
        "abababababababababababababababababababababab",
    ],
)
def test_written_placeholders_are_refused(secret: str) -> None:
    with pytest.raises(SettingsError, match="placeholder"):
        parse_session_keys("x", f"k1:{secret}")


@pytest.mark.parametrize(
    # Random keys that hold a stand-in word in a mix of cases, as random text does.
    "secret",
    ["tJ8B4wdXxXxc_JWFupTanjj7ezRkSu1vQ76r8RxHC_pu", "lo0Ij6A7f9XJOk3dUmMy4ivL_xH70X-0C4TkkOXkFAR"],
)
def test_random_keys_with_words_in_mixed_case_are_accepted(secret: str) -> None:
    assert len(parse_session_keys("x", f"k1:{secret}")[0].secret) >= 32


def test_parse_session_keys_keeps_order() -> None:
    a, b = SECRET_1, SECRET_48
    keys = parse_session_keys("x", f"new:{a}\n  old:{b}:verify")
    assert [k.kid for k in keys] == ["new", "old"]
    assert len(keys[1].secret) == 48


# -- the session key ring: one signing key, verify-only keys (key rotation) ----------------


def test_a_verify_only_entry_verifies_and_the_unmarked_one_signs_wherever_it_is() -> None:
    keys = parse_session_keys("x", f"new:{SECRET_1}:verify old:{SECRET_3}")
    assert [(k.kid, k.verify_only) for k in keys] == [("new", True), ("old", False)]
    session = SessionSettings(keys=keys)
    assert session.signing_key.kid == "old"
    assert [k.kid for k in session.verify_only_keys] == ["new"]
    assert "verify_only=True" in repr(keys[0])
    assert SECRET_1 not in repr(keys)


@pytest.mark.parametrize(
    ("stage", "ring", "signs", "verify_only"),
    [
        ("1: new key deployed as verify-only", "old:{s1} new:{s3}:verify", "old", ["new"]),
        ("2: new key promoted", "old:{s1}:verify new:{s3}", "new", ["old"]),
        ("3: old key retired", "new:{s3}", "new", []),
    ],
)
def test_each_stage_of_a_rotation_from_the_environment(
    settings: dict[str, str], stage: str, ring: str, signs: str, verify_only: list[str]
) -> None:
    value = ring.format(s1=SECRET_1, s3=SECRET_3)
    parsed = app_settings(settings, environ={"LOGINSITE_SESSION_KEYS": value})
    assert parsed.session.signing_key.kid == signs
    assert [k.kid for k in parsed.session.verify_only_keys] == verify_only
    # The revocation entries' MAC follows the same ring, verify-only keys included.
    assert parsed.revocation.mac_keys == parsed.session.keys


def test_a_verify_only_key_from_the_keys_file(settings: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"f2:{SECRET_4}\nf1:{KEY}:verify\n")
    without = {k: v for k, v in settings.items() if k != "loginsite.session.keys"}
    parsed = app_settings({**without, "loginsite.session.keys_file": str(path)}, environ={})
    assert parsed.session.signing_key.kid == "f2"
    assert [k.kid for k in parsed.session.verify_only_keys] == ["f1"]


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("a:{s1}:verify", "no signing key: every entry is verify-only"),
        ("a:{s1}:verify b:{s3}:verify", "no signing key"),
        ("a:{s1} b:{s3}", r"2 signing keys \(a, b\).*a:SECRET b:SECRET:verify"),
        ("a:{s1} b:{s3} c:{s4}:verify", "2 signing keys"),
        ("a:{s1}:sign", "ends in ':sign'.*':verify'"),
        ("a:{s1}:Verify", "ends in ':Verify'"),
        ("a:{s1}:verify:again", "ends in ':verify:again'"),
        ("a:{s1}:", "ends in ':'"),
        ("a:{s1}::verify", "ends in"),
        ("a:{s1} b:short:verify", "placeholder|bytes"),  # verify-only keys are held to the
        ("a:{s1} b:{s16}:verify", "'b' has 16 bytes"),  # same strength rules as signing keys
        ("a:{s1} b:{s1}:verify a:{s3}:verify", "'a' appears twice"),
        ("a:{s1} b:verify", "placeholder"),  # KID:verify, the secret left out
    ],
)
def test_key_ring_mistakes_name_the_setting_and_its_env_var(
    settings: dict[str, str], ring: str, message: str
) -> None:
    value = ring.format(s1=SECRET_1, s3=SECRET_3, s4=SECRET_4, s16=SECRET_16)
    for source in ("ini", "env"):
        ini = {**settings, "loginsite.session.keys": value} if source == "ini" else settings
        environ = {"LOGINSITE_SESSION_KEYS": value} if source == "env" else {}
        with pytest.raises(SettingsError, match=message) as error:
            app_settings(ini, environ=environ)
        assert error.value.setting == "loginsite.session.keys"
        assert str(error.value).startswith(
            "loginsite.session.keys (or env LOGINSITE_SESSION_KEYS): "
        )
        assert SECRET_1 not in str(error.value)


def test_a_keys_file_without_a_signing_key_names_keys_file(
    settings: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "keys"
    path.write_text(f"f1:{KEY}:verify\n")
    without = {k: v for k, v in settings.items() if k != "loginsite.session.keys"}
    with pytest.raises(SettingsError, match="no signing key") as error:
        app_settings({**without, "loginsite.session.keys_file": str(path)}, environ={})
    assert error.value.env_var == "LOGINSITE_SESSION_KEYS_FILE"


@pytest.mark.parametrize(
    "keys",
    [
        (),
        (SessionKey("a", b"a" * 32, verify_only=True),),
        (SessionKey("a", b"a" * 32), SessionKey("b", b"b" * 32)),
    ],
)
def test_session_settings_need_exactly_one_signing_key(keys: tuple[SessionKey, ...]) -> None:
    with pytest.raises(ValueError, match="exactly one signing key"):
        SessionSettings(keys=keys)


# -- loginsite.security_events.actions -------------------------------------------------------

RISC = "https://schemas.openid.net/secevent/risc/event-type/"


def test_security_event_actions_default_to_the_documented_table(settings: dict[str, str]) -> None:
    parsed = app_settings(settings, environ={})
    assert parsed.security_events_url == "http://localhost:6543/api/security-events"
    events = parsed.security_events
    assert events.action_for(RISC + "account-disabled") == "end-sessions"
    assert events.action_for(RISC + "identifier-recycled") == "end-sessions"
    assert events.action_for(RISC + "identifier-changed") == "record"
    assert events.action_for("https://schemas.example.gov/unknown") == "record"


def test_security_event_actions_override_by_short_name_or_uri(settings: dict[str, str]) -> None:
    parsed = app_settings(
        {
            **settings,
            "loginsite.security_events.actions": (
                "\nidentifier-changed = end-sessions\n"
                "  https://schemas.example.gov/custom=end-sessions password-reset=record"
            ),
        },
        environ={},
    )
    events = parsed.security_events
    assert events.action_for(RISC + "identifier-changed") == "end-sessions"
    assert events.action_for("https://schemas.example.gov/custom") == "end-sessions"
    assert events.action_for(
        "https://schemas.login.gov/secevent/risc/event-type/password-reset"
    ) == ("record")
    assert events.action_for(RISC + "account-purged") == "end-sessions"  # the rest: defaults


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("identifier-changed=delete", "ACTION one of end-sessions, record"),
        ("identifier-changed", "EVENT=ACTION"),
        ("password-changed=record", "unknown event 'password-changed'"),
        ("=record", "EVENT=ACTION"),
    ],
)
def test_security_event_actions_errors_name_the_setting(
    settings: dict[str, str], value: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        app_settings(settings, environ={"LOGINSITE_SECURITY_EVENTS_ACTIONS": value})
    message = str(caught.value)
    assert message.startswith(
        "loginsite.security_events.actions (or env LOGINSITE_SECURITY_EVENTS_ACTIONS)"
    )
    assert problem in message


def test_idp_settings_are_the_oidc_clients_own_config(test_provider: TestProvider) -> None:
    """settings.py builds the type oidc owns; oidc never imports the settings."""
    settings = app_settings(
        {
            "loginsite.environment": "development",
            "loginsite.public_url": "http://localhost:6543",
            "loginsite.session.keys": f"k1:{SECRET_1}",
            "loginsite.session.secure": "false",
            "loginsite.idp.issuer": test_provider.issuer,
            "loginsite.idp.client_id": test_provider.client_id,
            "loginsite.idp.private_key": test_provider.client_private_key_pem.decode(),
            "loginsite.idp.allow_http": "true",
            "loginsite.idp.acr_values": ACR_VERIFIED,
            "loginsite.idp.locale": "fr",
            "loginsite.idp.timeout": "3",
        },
        environ={},
    )

    config = settings.idp

    assert isinstance(config, ClientConfig)

    assert config.issuer == test_provider.issuer
    assert config.client_id == test_provider.client_id
    assert config.redirect_uri == "http://localhost:6543/auth/callback"
    assert config.post_logout_redirect_uri == "http://localhost:6543/auth/signed-out"
    assert config.acr_values == (ACR_VERIFIED,)
    assert (config.locale, config.timeout, config.allow_http) == ("fr", 3.0, True)
    assert "PRIVATE" not in repr(config)


# -- unknown settings ---------------------------------------------------------------------------


def test_a_misspelt_setting_is_reported_with_the_closest_known_name(
    settings: dict[str, str],
) -> None:
    parsed = parse_settings({**settings, "loginsite.sesion.max_age": "60"}, environ={})
    assert parsed.settings is not None  # ignored, not fatal
    assert parsed.settings.session.max_age == 43200
    [unknown] = parsed.unknown
    assert unknown.name == "loginsite.sesion.max_age"
    assert unknown.closest == "loginsite.session.max_age"
    assert "closest known setting is loginsite.session.max_age" in str(unknown)


def test_a_setting_of_another_version_is_reported_without_a_wild_guess(
    settings: dict[str, str],
) -> None:
    parsed = parse_settings({**settings, "loginsite.telemetry.endpoint": "x"}, environ={})
    [unknown] = parsed.unknown
    assert unknown.name == "loginsite.telemetry.endpoint"
    assert unknown.closest is None
    assert str(unknown) == "loginsite.telemetry.endpoint is not a loginsite setting"


def test_misspelt_environment_variables_are_reported(settings: dict[str, str]) -> None:
    parsed = parse_settings(
        settings,
        environ={"LOGINSITE_SESSION_IDLE_TIMEUOT": "60", "LOGINSITE_ENVIRONMENT": "development"},
    )
    by_name = {item.name: item for item in parsed.unknown}
    assert by_name["LOGINSITE_SESSION_IDLE_TIMEUOT"].closest == "LOGINSITE_SESSION_IDLE_TIMEOUT"
    assert "read from the INI file only" in str(by_name["LOGINSITE_ENVIRONMENT"])
    assert set(by_name) == {"LOGINSITE_SESSION_IDLE_TIMEUOT", "LOGINSITE_ENVIRONMENT"}


def test_known_settings_are_not_reported_even_when_another_one_wins(
    settings: dict[str, str], tmp_path: Path
) -> None:
    """keys_file is not used while keys is set, but it is a setting, not a typo."""
    parsed = parse_settings(
        {**settings, "loginsite.session.keys_file": str(tmp_path / "k")},
        environ={"LOGINSITE_SESSION_IDLE_TIMEOUT": "60", "OTHER_APP_SETTING": "x"},
    )
    assert parsed.unknown == ()
    assert parsed.errors == ()


@pytest.mark.parametrize("ini", ["development.ini", "production.ini", "sandbox.ini"])
def test_the_shipped_configurations_hold_no_unknown_setting(ini: str) -> None:
    from pyramid.paster import get_appsettings

    parsed = parse_settings(dict(get_appsettings(str(ROOT / ini), name="main")), environ={})
    names = {item.name for item in parsed.unknown}
    assert names == set()


def test_the_app_warns_at_start_up_about_each_unknown_setting(
    settings: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from loginsite import main

    with caplog.at_level(logging.WARNING, logger="loginsite.settings"):
        main({}, **{**settings, "loginsite.sesion.max_age": "60", "loginsite.idp.scopes": "x"})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "setting=loginsite.sesion.max_age closest=loginsite.session.max_age" in w for w in warnings
    )
    assert any("setting=loginsite.idp.scopes closest=loginsite.idp.scope" in w for w in warnings)


# -- every problem in one parse -------------------------------------------------------------------


def test_one_parse_names_a_problem_in_every_part(settings: dict[str, str]) -> None:
    parsed = parse_settings(
        {
            **settings,
            "loginsite.session.idle_timeout": "soon",
            "loginsite.public_url": "ftp://x",
            "loginsite.revocation.store": "disk",
            "loginsite.idp.scope": "email",
        },
        environ={},
    )
    assert parsed.settings is None
    assert [e.setting for e in parsed.errors] == [
        "loginsite.session.idle_timeout",
        "loginsite.public_url",
        "loginsite.revocation.store",
        "loginsite.idp.scope",
    ]


def test_app_settings_raises_the_first_problem(settings: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as info:
        app_settings({**settings, "loginsite.idp.scope": "email", "loginsite.public_url": "x"})
    assert info.value.setting == "loginsite.public_url"


def test_unknown_names_are_not_guessed_in_a_part_that_failed(settings: dict[str, str]) -> None:
    """A failed part stops reading: its unread settings would look unknown, so they are not
    reported until the part parses."""
    parsed = parse_settings(
        {**settings, "loginsite.session.keys": "k1:short", "loginsite.session.max_age": "60"},
        environ={},
    )
    assert [e.setting for e in parsed.errors] == ["loginsite.session.keys"]
    assert parsed.unknown == ()


def test_the_sign_in_views_default_to_auth_with_the_plain_layout(settings: dict[str, str]) -> None:
    parsed = app_settings(settings, environ={})
    assert parsed.auth.prefix == "/auth"
    assert parsed.auth.layout == "loginsite:templates/plain_layout.html"


def test_redirect_uris_follow_the_sign_in_prefix(settings: dict[str, str]) -> None:
    parsed = app_settings(
        {**settings, "loginsite.auth.prefix": "/account/login-gov/"},
        environ={},
    )
    assert parsed.auth.prefix == "/account/login-gov"  # the trailing slash is dropped
    assert parsed.redirect_uri == "http://localhost:6543/account/login-gov/callback"
    assert parsed.idp.redirect_uri == parsed.redirect_uri
    assert parsed.post_logout_redirect_uri == "http://localhost:6543/account/login-gov/signed-out"
    assert parsed.idp.post_logout_redirect_uri == parsed.post_logout_redirect_uri


def test_the_sign_in_prefix_may_come_from_the_environment(settings: dict[str, str]) -> None:
    parsed = app_settings(settings, environ={"LOGINSITE_AUTH_PREFIX": "/signin"})
    assert parsed.redirect_uri == "http://localhost:6543/signin/callback"


@pytest.mark.parametrize(
    "prefix", ["auth", "/", "//auth", "/auth/../x", "/a b", "/.hidden", "/auth?x=1", "/auth#x"]
)
def test_a_bad_sign_in_prefix_names_the_setting(settings: dict[str, str], prefix: str) -> None:
    with pytest.raises(SettingsError) as exc:
        app_settings({**settings, "loginsite.auth.prefix": prefix}, environ={})
    assert exc.value.setting == "loginsite.auth.prefix"
    assert "such as /auth" in str(exc.value)


def test_a_layout_is_an_asset_spec_of_a_template_that_exists(settings: dict[str, str]) -> None:
    parsed = app_settings(
        {**settings, "loginsite.auth.layout": "loginsite:templates/layout.html"}, environ={}
    )
    assert parsed.auth.layout == "loginsite:templates/layout.html"


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ("layout.html", "must be the asset spec of a Jinja2 template"),
        ("loginsite:", "must be the asset spec of a Jinja2 template"),
        ("no_such_package_here:templates/layout.html", "cannot find"),
        ("loginsite:templates/no-such-layout.html", "there is no template"),
    ],
)
def test_a_bad_layout_names_the_setting(
    settings: dict[str, str], layout: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as exc:
        app_settings({**settings, "loginsite.auth.layout": layout}, environ={})
    assert exc.value.setting == "loginsite.auth.layout"
    assert problem in str(exc.value)
