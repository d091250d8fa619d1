"""Routes of the pages blueprint: render the shells; the pages' scripts call the API."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import render_template, request

from plugin.app import app_config
from plugin.pages import bp
from schemas.webhook import is_guid, normalise_guid

# a grid selection is a few hundred rows at most; the URL stays well under server limits
_MAX_IDS = 1000
# The pages load only their own files and call only their own API: nothing inline, nothing remote.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'")


def parse_guid(text: str) -> str | None:
    """A GUID in lower case without braces (Dataverse grids pass `{GUID}`), or None."""
    text = text.strip()
    return normalise_guid(text) if is_guid(text) else None


def parse_guid_list(text: str) -> tuple[list[str], list[str]]:
    """Distinct GUIDs of a comma-separated list in their order, and the parts that are not GUIDs."""
    ids: list[str] = []
    bad: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        guid = parse_guid(part)
        if guid is None:
            bad.append(part)
        elif guid not in ids:
            ids.append(guid)
    return ids, bad


def _https_origin(url: str | None) -> str | None:
    """`url` reduced to its origin when it is an https URL (a Dataverse org), else None."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return None
    return f"https://{parts.netloc}"


def _page_context() -> dict[str, str | None]:
    """Where the page's scripts find the API, and where an invoice can be opened."""
    config = app_config()
    # the org: from the command button (`org=`, its getClientUrl), else a real org's configured URL
    org_url = _https_origin(request.args.get("org")) or _https_origin(config.dataverse_url)
    return {
        "api_base": f"{request.script_root}/api/v1",
        "org_url": org_url,
        "dataverse_api": f"{config.dataverse_url.rstrip('/')}/api/data/v9.2/",
    }


@bp.after_request
def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _bulk_error(ids: list[str], bad: list[str]) -> str | None:
    if bad:
        shown = ", ".join(b[:40] for b in bad[:5]) + ("…" if len(bad) > 5 else "")
        return f"These are not billing contract ids: {shown}"
    if not ids:
        return ("No billing contracts were selected. "
                "Select contracts in the list, then choose Generate Invoice.")
    if len(ids) > _MAX_IDS:
        return f"{len(ids)} contracts were selected; select at most {_MAX_IDS} at a time."
    return None


@bp.get("/generate")
def generate() -> tuple[str, int]:
    """The single-contract Generate Invoice dialog (`?id=<billing contract id>`)."""
    raw = request.args.get("id", "")
    contract_id = parse_guid(raw) if raw else None
    error = None
    if not raw:
        error = ("No billing contract was given. "
                 "Open this page from a billing contract (the id= parameter is missing).")
    elif contract_id is None:
        error = f"“{raw[:80]}” is not a billing contract id."
    html = render_template("pages/generate.html", contract_id=contract_id, page_error=error,
                           **_page_context())
    return html, 400 if error else 200


@bp.get("/bulk")
def bulk() -> tuple[str, int]:
    """The bulk Generate Invoice window (`?ids=<id>,<id>,…`)."""
    ids, bad = parse_guid_list(request.args.get("ids", ""))
    error = _bulk_error(ids, bad)
    html = render_template("pages/bulk.html", contract_ids=[] if error else ids, page_error=error,
                           **_page_context())
    return html, 400 if error else 200
