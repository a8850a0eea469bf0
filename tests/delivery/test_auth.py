"""TokenVerifier: the host application's tokens in, everything else out."""

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from delivery.auth import MAX_TOKEN_CHARS, AuthFailed, Principal, TokenRevoked, TokenVerifier
from foundation.errors import ConfigurationError
from foundation.settings import Settings

SECRET = "s" * 40
# Far from the wall clock on purpose: a verifier that read the real clock would disagree.
NOW = 1_750_000_000.0


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "jwt_public_key": None,
        "jwt_algorithms": ["HS256"],
        "jwt_issuer": None,
        "jwt_audience": None,
        "jwt_leeway_seconds": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


def host_claims(**overrides: Any) -> dict[str, Any]:
    """What the seed application puts in an access token."""
    claims: dict[str, Any] = {
        "sub": "alice",
        "exp": int(NOW) + 900,
        "iat": int(NOW),
        "type": "access",
        "token_version": 3,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not ...}


def hs_token(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64url(signature)}"


def public_pem(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    public_key = private_key.public_key()
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(make_settings())


def assert_refused(verifier: TokenVerifier, token: str, code: str, now: float = NOW) -> None:
    with pytest.raises(AuthFailed) as caught:
        verifier.decode(token, now)
    assert caught.value.code == code
    assert token not in str(caught.value) or not token


def test_host_application_token_is_accepted(verifier: TokenVerifier) -> None:
    principal = verifier.decode(hs_token(host_claims()), NOW)

    assert principal.user_id == "alice"
    assert principal.expires_at == NOW + 900
    assert principal.claims["token_version"] == 3


def test_claims_are_read_only(verifier: TokenVerifier) -> None:
    principal = verifier.decode(hs_token(host_claims()), NOW)

    with pytest.raises(TypeError):
        principal.claims["sub"] = "mallory"  # type: ignore[index]


def test_token_without_type_is_accepted(verifier: TokenVerifier) -> None:
    assert verifier.decode(hs_token(host_claims(type=...)), NOW).user_id == "alice"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(host_claims(exp=...), id="missing-exp"),
        pytest.param(host_claims(exp=None), id="null-exp"),
        pytest.param(host_claims(exp="1750000900"), id="string-exp"),
        pytest.param(host_claims(exp=True), id="bool-exp"),
        pytest.param(host_claims(exp=10**400), id="huge-exp"),
        pytest.param(host_claims(sub=...), id="missing-sub"),
        pytest.param(host_claims(sub=""), id="empty-sub"),
        pytest.param(host_claims(sub=123), id="number-sub"),
        pytest.param(host_claims(sub="a" * 257), id="long-sub"),
        pytest.param(host_claims(nbf="soon"), id="string-nbf"),
    ],
)
def test_bad_claims_are_refused(verifier: TokenVerifier, claims: dict[str, Any]) -> None:
    assert_refused(verifier, hs_token(claims), "token_invalid")


def test_longest_subject_is_accepted(verifier: TokenVerifier) -> None:
    assert verifier.decode(hs_token(host_claims(sub="a" * 256)), NOW).user_id == "a" * 256


@pytest.mark.parametrize(
    ("exp_offset", "accepted"),
    [(-9, True), (-10, False), (-11, False), (-3600, False)],
)
def test_expiry_honours_leeway_and_now(
    verifier: TokenVerifier, exp_offset: int, accepted: bool
) -> None:
    token = hs_token(host_claims(exp=int(NOW) + exp_offset, iat=int(NOW) - 7200))

    if accepted:
        assert verifier.decode(token, NOW).expires_at == NOW + exp_offset
    else:
        assert_refused(verifier, token, "token_expired")


def test_leeway_comes_from_settings() -> None:
    verifier = TokenVerifier(make_settings(jwt_leeway_seconds=0))
    token = hs_token(host_claims(exp=int(NOW) - 1))

    assert_refused(verifier, token, "token_expired")


def test_token_valid_now_is_refused_later(verifier: TokenVerifier) -> None:
    token = hs_token(host_claims())

    assert_refused(verifier, token, "token_expired", now=NOW + 911)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize(("offset", "accepted"), [(9, True), (11, False), (600, False)])
def test_not_yet_valid_beyond_leeway_is_refused(
    verifier: TokenVerifier, claim: str, offset: int, accepted: bool
) -> None:
    token = hs_token(host_claims(**{claim: int(NOW) + offset}))

    if accepted:
        assert verifier.decode(token, NOW).user_id == "alice"
    else:
        assert_refused(verifier, token, "token_not_yet_valid")


def test_wrong_secret_is_refused(verifier: TokenVerifier) -> None:
    assert_refused(verifier, hs_token(host_claims(), secret="x" * 40), "token_invalid")


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "eyJ.eyJ.", "...", "\u00e9t\u00e9.x.y", "x" * (MAX_TOKEN_CHARS + 1)],
)
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    assert_refused(verifier, token, "token_invalid")


def test_empty_token_is_missing(verifier: TokenVerifier) -> None:
    assert_refused(verifier, "", "token_missing")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(verifier: TokenVerifier, alg: str) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, host_claims())

    assert_refused(verifier, token, "token_invalid")


def test_hand_made_hs256_token_is_accepted(verifier: TokenVerifier) -> None:
    """Guards the two tests around it: the hand-made encoding itself is sound."""
    token = hand_made(
        {"alg": "HS256", "typ": "JWT"},
        host_claims(),
        lambda data: hmac.new(SECRET.encode(), data, hashlib.sha256).digest(),
    )

    assert verifier.decode(token, NOW).user_id == "alice"


def test_hs256_signed_with_rsa_public_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = public_pem(rsa_key)
    verifier = TokenVerifier(
        make_settings(jwt_secret=None, jwt_algorithms=["RS256"], jwt_public_key=pem)
    )
    token = hand_made(
        {"alg": "HS256", "typ": "JWT"},
        host_claims(),
        lambda data: hmac.new(pem.encode(), data, hashlib.sha256).digest(),
    )

    assert_refused(verifier, token, "token_invalid")


def test_rs256_token_is_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier(
        make_settings(jwt_secret=None, jwt_algorithms=["RS256"], jwt_public_key=public_pem(rsa_key))
    )
    token = jwt.encode(host_claims(), rsa_key, algorithm="RS256")

    assert verifier.decode(token, NOW).user_id == "alice"


def test_es256_token_is_accepted(ec_key: ec.EllipticCurvePrivateKey) -> None:
    verifier = TokenVerifier(
        make_settings(jwt_secret=None, jwt_algorithms=["ES256"], jwt_public_key=public_pem(ec_key))
    )
    token = jwt.encode(host_claims(), ec_key, algorithm="ES256")

    assert verifier.decode(token, NOW).user_id == "alice"


def test_token_signed_by_another_key_pair_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = TokenVerifier(
        make_settings(jwt_secret=None, jwt_algorithms=["RS256"], jwt_public_key=public_pem(rsa_key))
    )

    assert_refused(verifier, jwt.encode(host_claims(), other, algorithm="RS256"), "token_invalid")


@pytest.mark.parametrize("token_type", ["refresh", None, "Access", "", ["access"]])
def test_other_token_types_are_refused(verifier: TokenVerifier, token_type: Any) -> None:
    assert_refused(verifier, hs_token(host_claims(type=token_type)), "token_wrong_type")


@pytest.mark.parametrize(
    ("iss", "accepted"),
    [("https://sbd.example", True), ("https://evil.example", False), (..., False)],
)
def test_issuer_is_checked_when_configured(iss: Any, accepted: bool) -> None:
    verifier = TokenVerifier(make_settings(jwt_issuer="https://sbd.example"))
    token = hs_token(host_claims(iss=iss))

    if accepted:
        assert verifier.decode(token, NOW).claims["iss"] == iss
    else:
        assert_refused(verifier, token, "token_invalid")


def test_issuer_is_ignored_when_not_configured(verifier: TokenVerifier) -> None:
    assert verifier.decode(hs_token(host_claims(iss="anyone")), NOW).user_id == "alice"


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [("tidings", True), (["other", "tidings"], True), ("other", False), (..., False)],
)
def test_audience_is_checked_when_configured(aud: Any, accepted: bool) -> None:
    verifier = TokenVerifier(make_settings(jwt_audience="tidings"))
    token = hs_token(host_claims(aud=aud))

    if accepted:
        assert verifier.decode(token, NOW).user_id == "alice"
    else:
        assert_refused(verifier, token, "token_invalid")


def test_audience_is_ignored_when_not_configured(verifier: TokenVerifier) -> None:
    assert verifier.decode(hs_token(host_claims(aud="some-api")), NOW).user_id == "alice"


async def test_revocation_hook_refuses_stale_token_version() -> None:
    current_versions = {"alice": 4}
    seen: list[Principal] = []

    async def is_revoked(principal: Principal) -> bool:
        seen.append(principal)
        return principal.claims.get("token_version") != current_versions[principal.user_id]

    verifier = TokenVerifier(make_settings(), revocation_check=is_revoked)

    with pytest.raises(TokenRevoked) as caught:
        await verifier.verify(hs_token(host_claims(token_version=3)), NOW)
    assert caught.value.code == "token_revoked"
    principal = await verifier.verify(hs_token(host_claims(token_version=4)), NOW)
    assert principal.user_id == "alice"
    assert [p.claims["token_version"] for p in seen] == [3, 4]


async def test_verify_without_hook_decodes() -> None:
    verifier = TokenVerifier(make_settings())

    assert (await verifier.verify(hs_token(host_claims()), NOW)).user_id == "alice"


async def test_verify_refuses_bad_token_before_the_hook() -> None:
    async def never(principal: Principal) -> bool:
        raise AssertionError("the hook must not see unverified tokens")

    verifier = TokenVerifier(make_settings(), revocation_check=never)

    with pytest.raises(AuthFailed):
        await verifier.verify(hs_token(host_claims(), secret="x" * 40), NOW)


def test_hmac_without_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TIDINGS_JWT_SECRET"):
        TokenVerifier(make_settings(jwt_secret=None))


def test_public_key_algorithm_without_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TIDINGS_JWT_PUBLIC_KEY"):
        TokenVerifier(make_settings(jwt_algorithms=["RS256"]))


def test_unparsable_public_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unusable"):
        TokenVerifier(make_settings(jwt_algorithms=["RS256"], jwt_public_key="not a pem"))


def test_key_of_the_wrong_kind_is_a_configuration_error(rsa_key: rsa.RSAPrivateKey) -> None:
    settings = make_settings(jwt_algorithms=["RS256", "ES256"], jwt_public_key=public_pem(rsa_key))

    with pytest.raises(ConfigurationError, match="ES256"):
        TokenVerifier(settings)


def test_secret_shorter_than_the_hash_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="weak"):
        TokenVerifier(make_settings(jwt_algorithms=["HS512"], jwt_secret="k" * 32))


def test_principal_is_hashable_and_comparable(verifier: TokenVerifier) -> None:
    first = verifier.decode(hs_token(host_claims()), NOW)
    second = verifier.decode(hs_token(host_claims()), NOW)

    assert first == second
    assert len({first, second}) == 1
