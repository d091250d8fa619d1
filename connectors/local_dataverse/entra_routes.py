"""Routes of the local sign-in: `/<tenant>/oauth2/v2.0/authorize` (GET shows the user picker,
POST signs the picked user in) and `POST /_admin/tokens`."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request

from . import entra_page
from .auth import CLIENT_ID, TENANT, external_base, issuer_url
from .entra import CODE_LIFETIME_S, Grant, ScopeError, SignIn, loopback_redirect, resource_of

# the parameters of an authorize request that the picker carries back in its form
_CARRIED = ("client_id", "redirect_uri", "response_type", "response_mode", "scope", "state",
            "nonce", "code_challenge", "code_challenge_method", "prompt", "login_hint")


class _Refused(Exception):
    """An authorize error that goes back to the client (`error=` on its redirect_uri)."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def _deliver(params: dict[str, str], fields: dict[str, str]) -> Response:
    """Send `fields` (code or error, and state) to the client's redirect_uri."""
    if params.get("state"):
        fields = {**fields, "state": params["state"]}
    uri = params["redirect_uri"]
    mode = params.get("response_mode") or "query"
    if mode == "form_post":
        return _html(entra_page.form_post(uri, fields))
    sep = "#" if mode == "fragment" else ("&" if "?" in uri else "?")
    return redirect(uri + sep + urlencode(fields), 302)


def _check(params: dict[str, str]) -> None:
    """Raise `_Refused` for what the client must be told (client and redirect_uri are valid)."""
    if params.get("response_type") != "code":
        raise _Refused("unsupported_response_type",
                       "Only response_type=code (the authorization code flow) is supported.")
    if (params.get("response_mode") or "query") not in ("query", "fragment", "form_post"):
        raise _Refused("invalid_request", "response_mode must be query, fragment or form_post.")
    if not params.get("scope"):
        raise _Refused("invalid_request",
                       "The request must contain the 'scope' parameter.")
    try:
        resource_of(params["scope"].split(), external_base())
    except ScopeError as exc:
        raise _Refused("invalid_scope", str(exc)) from None
    if not params.get("code_challenge"):
        raise _Refused("invalid_request", "PKCE is required: send code_challenge and "
                       "code_challenge_method (S256 or plain).")
    if (params.get("code_challenge_method") or "plain") not in ("S256", "plain"):
        raise _Refused("invalid_request", "code_challenge_method must be S256 or plain.")
    if params.get("prompt") == "none":
        raise _Refused("login_required", "The local sign-in always asks which user signs in.")


def authorize_blueprint(sign_in: SignIn) -> Blueprint:
    bp = Blueprint("local_dataverse_signin", __name__)

    @bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
    def authorize(tenant: str):
        source = request.form if request.method == "POST" else request.args
        params = {k: source.get(k, "") for k in _CARRIED if source.get(k)}
        # never redirected to an unknown client or a foreign redirect_uri: shown on the page
        if params.get("client_id") != CLIENT_ID:
            return _html(entra_page.error(
                f"AADSTS700016: Application with identifier '{params.get('client_id', '')}' "
                "was not found in the directory (this authority knows 'local-client')."), 400)
        if not loopback_redirect(params.get("redirect_uri", "")):
            return _html(entra_page.error(
                f"AADSTS50011: The redirect URI '{params.get('redirect_uri', '')}' is not "
                "accepted: it must be http(s) on 127.0.0.1, localhost or [::1]."), 400)
        try:
            _check(params)
        except _Refused as refused:
            return _deliver(params, {"error": refused.error,
                                     "error_description": refused.description})
        if request.method == "GET":
            return _html(entra_page.picker(request.path, params, sign_in.users()))
        user = sign_in.user(request.form.get("systemuserid"))
        if user is None:
            return _html(entra_page.error("Pick one of the listed users: the chosen user does "
                                          "not exist, is disabled or has no object id."), 400)
        grant = Grant(
            client_id=params["client_id"],
            systemuserid=str(user["systemuserid"]),
            scopes=tuple(params["scope"].split()),
            expires=time.time() + CODE_LIFETIME_S,
            redirect_uri=params["redirect_uri"],
            challenge=params["code_challenge"],
            method=params.get("code_challenge_method") or "plain",
            nonce=params.get("nonce", ""),
        )
        return _deliver(params, {"code": sign_in.new_code(grant)})

    @bp.post("/_admin/tokens")
    def admin_tokens():
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        problem = _admin_problem(body, sign_in)
        if problem:
            return jsonify({"error": {"code": "bad_token_request", "message": problem}}), 400
        user = sign_in.user(body["systemuserid"])
        scopes = (body.get("scope") or "user_impersonation").split()
        token = sign_in.tokens.issue(CLIENT_ID, body["audience"], issuer_url(TENANT), user,
                                     scopes)
        return jsonify({"access_token": token, "expires_in": sign_in.tokens.lifetime_s,
                        "oid": str(user["azureactivedirectoryobjectid"])})

    return bp


def _admin_problem(body: Any, sign_in: SignIn) -> str | None:
    if not isinstance(body, dict):
        return 'The body must be a JSON object {"systemuserid", "audience", "scope"?}.'
    unknown = set(body) - {"systemuserid", "audience", "scope"}
    if unknown:
        return f"Unknown members: {', '.join(sorted(unknown))}."
    if not isinstance(body.get("audience"), str) or not body["audience"].strip():
        return "audience must be a non-empty string (the resource, e.g. the Dataverse URL)."
    if "scope" in body and not isinstance(body["scope"], str):
        return "scope must be a string of space-separated scope names."
    if sign_in.user(body.get("systemuserid")) is None:
        return ("systemuserid must be the id of a systemusers row that has an "
                "azureactivedirectoryobjectid and is not disabled.")
    return None
