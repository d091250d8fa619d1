"""RS256 tokens: the store's signing key, its JWKS, access tokens (an application's or a user's)
and id tokens, and their verification (signature, expiry, audience)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import uuid
from typing import Any, Callable, Iterable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEV_TOKEN = "local-dev-token"
# the directory's tenant id (`tid`); URLs take any tenant segment (the docs use `local`)
TENANT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://w365.local/local-dataverse/tenant"))
_KEY_META = "rsa_signing_key"  # PEM (PKCS#8) in the store's `_meta`, made on first use


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class SigningKey:
    """One RSA key: `kid` is the SHA-256 thumbprint of its public numbers."""

    def __init__(self, pem: bytes):
        self.private = serialization.load_pem_private_key(pem, password=None)
        numbers = self.private.public_key().public_numbers()
        self.n, self.e = _int_b64(numbers.n), _int_b64(numbers.e)
        self.kid = b64url(hashlib.sha256(f"{self.e}.{self.n}".encode()).digest())[:32]

    @staticmethod
    def generate() -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def jwk(self) -> dict[str, Any]:
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "x5t": self.kid,
                "n": self.n, "e": self.e}


class TokenIssuer:
    """Signs and checks the store's tokens (valid across restarts of one database)."""

    def __init__(self, store: Any, lifetime_s: int = 3599):
        self._store = store
        self.lifetime_s = lifetime_s
        self._key: SigningKey | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> SigningKey:
        with self._lock:
            if self._key is None:
                with self._store.lock:
                    pem = self._store.meta(_KEY_META)
                    if pem is None:
                        pem = SigningKey.generate().decode()
                        self._store.set_meta(_KEY_META, pem)
                self._key = SigningKey(pem.encode())
            return self._key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.jwk()]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.key
        return jwt.encode(claims, key.private, algorithm="RS256",
                          headers={"kid": key.kid, "typ": "JWT"})

    def _times(self, lifetime_s: int | None = None) -> dict[str, int]:
        now = int(time.time())
        return {"iat": now, "nbf": now, "exp": now + (lifetime_s or self.lifetime_s)}

    def issue(
        self,
        client_id: str,
        audience: str,
        issuer: str = "",
        user: dict[str, Any] | None = None,
        scopes: Iterable[str] = (),
    ) -> str:
        """An access token for `audience`: the application's (`user` None) or a user's."""
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer,
            **self._times(),
            "tid": TENANT_ID,
            "appid": client_id,
            "azp": client_id,
            "ver": "2.0",
            "uti": b64url(uuid.uuid4().bytes),
        }
        if user is None:
            claims.update({"sub": client_id, "idtyp": "app", "roles": []})
        else:
            claims.update(user_claims(user, client_id))
            claims["scp"] = " ".join(scopes) or "user_impersonation"
        return self.sign(claims)

    def id_token(
        self, user: dict[str, Any], client_id: str, issuer: str, nonce: str | None = None
    ) -> str:
        claims = {"aud": client_id, "iss": issuer, **self._times(), "tid": TENANT_ID,
                  "ver": "2.0", **user_claims(user, client_id)}
        if nonce:
            claims["nonce"] = nonce
        return self.sign(claims)

    def claims(
        self, token: str, audience_ok: Callable[[str], bool] | None = None
    ) -> dict[str, Any] | None:
        """The claims of a valid token (`{}` for the development token), else None."""
        if not token.isascii():  # never issued; compare_digest refuses non-ASCII str
            return None
        if hmac.compare_digest(token, DEV_TOKEN):
            return {}
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key.kid:
                return None
            claims = jwt.decode(token, self.key.private.public_key(), algorithms=["RS256"],
                                options={"verify_aud": False, "require": ["exp", "aud"]})
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        if claims.get("ver") != "2.0" or not isinstance(claims.get("aud"), str):
            return None
        if audience_ok is not None and not audience_ok(claims["aud"]):
            return None
        return claims

    def valid(self, token: str, audience_ok: Callable[[str], bool] | None = None) -> bool:
        """True for the development token and for unexpired tokens this issuer signed."""
        return self.claims(token, audience_ok) is not None


def user_claims(user: dict[str, Any], client_id: str) -> dict[str, Any]:
    """A user's identity claims from their `systemusers` row."""
    oid = str(user["azureactivedirectoryobjectid"])
    # `sub` is pairwise (per application), as Entra's is
    sub = b64url(hashlib.sha256(f"{oid}|{client_id}".encode()).digest())
    return {
        "oid": oid,
        "sub": sub,
        "name": user.get("fullname") or "",
        "preferred_username": user.get("domainname") or user.get("internalemailaddress") or oid,
    }
