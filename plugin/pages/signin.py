"""The pages' sign-in: Microsoft Entra ID (OpenID Connect, authorization code flow with PKCE, done
server-side by msal), a signed session cookie, and a CSRF token for the pages' state-changing calls.

Every Dataverse request made for a signed-in user carries their object id as `CallerObjectId`, so
Dataverse's security roles decide what they may do. `W365_PAGES_AUTH=dev` (loopback only) skips the
sign-in and acts as the application user.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from plugin.config import Config
from plugin.context import app_config
from plugin.local_secrets import kept_secret

log = logging.getLogger(__name__)

USER = "w365.user"          # {"oid", "name", "username"} of the signed-in user
CSRF = "w365.csrf"
FLOW = "w365.flow"          # msal's auth code flow between the redirect and the callback
NEXT = "w365.next"
PENDING_IDS = "w365.pending_ids"  # a long selection POSTed before sign-in
POPUP = "w365.popup"              # this sign-in runs in a popup opened by a framed page
CSRF_HEADER = "X-CSRF-Token"
SESSION_KEY_FILE = Path(".w365") / "session.key"
_PUBLIC = {"pages.signin", "pages.signed_in", "pages.signed_out", "pages.signout", "pages.static",
           "pages.signed_in_popup"}


class PagesSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, `HttpOnly`; over https `Secure; SameSite=None` (the window runs inside the
    Dynamics frame), over plain-http loopback `SameSite=Lax` (browsers refuse `None` without `Secure`)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure

    def get_cookie_samesite(self, app: Flask) -> str:
        return "None" if request.is_secure else "Lax"

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:  # read (or made) on first use: the factory does no I/O
            app.secret_key = session_secret(app_config(app))
        return super().get_signing_serializer(app)


def session_secret(config: Config, path: Path = SESSION_KEY_FILE) -> str:
    """W365_SESSION_SECRET, else a secret made once and kept in `./.w365/` (every process shares it)."""
    return config.session_secret or kept_secret(path, nbytes=48)


def entra_settings_missing(config: Config) -> list[str]:
    """The settings the Entra sign-in lacks (empty when it can run)."""
    wanted = {"W365_ENTRA_CLIENT_ID": config.entra_client_id, "W365_ENTRA_CLIENT_SECRET": config.entra_client_secret,
              "W365_ENTRA_AUTHORITY": config.entra_authority}
    return [name for name, value in wanted.items() if not value]


def signed_in_user() -> dict[str, Any] | None:
    """The signed-in user of this request's session (None: nobody)."""
    user = session.get(USER)
    return user if isinstance(user, dict) and user.get("oid") else None


def csrf_token() -> str:
    """This session's CSRF token (made on first use), for the pages to send with state-changing calls."""
    token = session.get(CSRF)
    if not token:
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_valid() -> bool:
    """Whether the request carries this session's CSRF token (constant-time comparison)."""
    expected, given = session.get(CSRF), request.headers.get(CSRF_HEADER, "")
    return bool(expected) and hmac.compare_digest(str(expected), given)


def _msal_app(config: Config):
    import msal
    from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

    host = urlsplit(config.entra_authority or "").hostname or ""
    options: dict[str, Any] = {"timeout": 30}
    if host not in WELL_KNOWN_AUTHORITY_HOSTS:
        options["instance_discovery"] = False  # the local Dataverse plays Entra; no instance discovery
    return msal.ConfidentialClientApplication(config.entra_client_id, authority=config.entra_authority,
                                              client_credential=config.entra_client_secret, **options)


def _local_path(target: str | None) -> str:
    """`target` when it is a path on this service, else the runs page (never an open redirect)."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return url_for("pages.runs")
    return target


def _unavailable(message: str, status: int) -> tuple[str, int]:
    return render_template("pages/signin.html", page_error=message, api_base="", invoice_url=""), status


def require_sign_in() -> Response | tuple[str, int] | None:
    """Before every page: with Entra sign-in, a visitor without a session goes to sign in first."""
    config = app_config()
    if config.pages_mode != "entra" or request.endpoint in _PUBLIC:
        return None
    missing = entra_settings_missing(config)
    if missing:
        return _unavailable(f"Sign-in is not configured: set {', '.join(missing)} (see docs/deploy.md).", 503)
    if signed_in_user() is not None:
        return None
    target = request.full_path.rstrip("?")
    if request.method == "POST" and request.endpoint == "pages.bulk":
        session[PENDING_IDS] = request.form.get("ids", "")[:1_000_000]
        target = url_for("pages.bulk", pending=1)
    if request.headers.get("Sec-Fetch-Dest") == "iframe":
        # inside the Dynamics dialog: Entra's sign-in page refuses to be framed, so sign in in a popup
        popup = url_for("pages.signin", next=target, popup=1)
        return render_template("pages/signin_frame.html", popup_url=popup, page_error=None, api_base="",
                               invoice_url=""), 200
    return redirect(url_for("pages.signin", next=target))


def start_sign_in() -> Response | tuple[str, int]:
    """Send the visitor to the authority's sign-in page (a new flow, with PKCE and a nonce)."""
    config = app_config()
    missing = entra_settings_missing(config)
    if config.pages_mode != "entra" or missing:
        return _unavailable("Sign-in is not configured: set " + ", ".join(missing or ["W365_PAGES_AUTH=entra"]), 503)
    try:
        with warnings.catch_warnings():
            # the code comes back in the query, not by form_post: a cross-site POST would not carry the
            # SameSite=Lax cookie of a plain-http loopback service; PKCE, state and nonce protect it
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            flow = _msal_app(config).initiate_auth_code_flow(
                scopes=[], redirect_uri=url_for("pages.signed_in", _external=True), response_mode="query")
    except Exception as exc:  # noqa: BLE001 - the authority cannot be reached or refused the client
        log.warning("sign-in could not start: %s", exc)
        return _unavailable("The sign-in service could not be reached. Try again in a moment.", 503)
    session[FLOW] = flow
    session[NEXT] = _local_path(request.args.get("next"))
    session[POPUP] = request.args.get("popup") == "1"
    return redirect(flow["auth_uri"])


def finish_sign_in() -> Response | tuple[str, int]:
    """The authority's answer: exchange the code (msal checks state, nonce and PKCE), then go on."""
    flow = session.pop(FLOW, None)
    if not isinstance(flow, dict):
        return _unavailable("This sign-in has expired or was already used. Open the page again to sign in.", 400)
    answer = request.form if request.method == "POST" else request.args
    try:
        result = _msal_app(app_config()).acquire_token_by_auth_code_flow(flow, answer.to_dict())
    except ValueError as exc:  # msal: state mismatch or a malformed answer
        log.warning("sign-in answer refused: %s", exc)
        return _unavailable("The sign-in answer was not valid. Open the page again to sign in.", 400)
    except Exception as exc:  # noqa: BLE001 - the token endpoint cannot be reached
        log.warning("sign-in could not finish: %s", exc)
        return _unavailable("The sign-in service could not be reached. Try again in a moment.", 503)
    claims = result.get("id_token_claims") or {}
    if "error" in result or not claims.get("oid"):
        description = str(result.get("error_description") or result.get("error") or "no user in the answer")
        return _unavailable(f"Sign-in failed: {description.splitlines()[0][:200]}", 401)
    target = _local_path(session.get(NEXT))
    popup = session.get(POPUP)
    pending = session.get(PENDING_IDS)
    session.clear()  # a new session for the signed-in user (no fixation)
    session[USER] = {"oid": str(claims["oid"]).lower(), "name": claims.get("name"),
                     "username": claims.get("preferred_username")}
    if pending:
        session[PENDING_IDS] = pending
    csrf_token()
    if popup:  # tell the framed page that opened the popup, which reloads itself
        return redirect(url_for("pages.signed_in_popup", next=target))
    return redirect(target)


def sign_out() -> Response:
    """Forget the session (a POST carrying the CSRF token; anything else just shows the runs)."""
    if request.method == "POST" and hmac.compare_digest(str(session.get(CSRF, "")), request.form.get("csrf", "")):
        session.clear()
        return redirect(url_for("pages.signed_out"))
    return redirect(url_for("pages.runs"))
