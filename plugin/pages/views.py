"""Routes of the pages blueprint: render the shells; the pages' scripts call the API."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import render_template, request, session

from plugin.context import app_config
from plugin.auth import is_loopback
from plugin.pages import bp, signin
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


bp.before_request(signin.require_sign_in)
bp.add_url_rule("/signin", "signin", signin.start_sign_in)
bp.add_url_rule("/signed-in", "signed_in", signin.finish_sign_in, methods=["GET", "POST"])
bp.add_url_rule("/signout", "signout", signin.sign_out, methods=["GET", "POST"])


@bp.get("/signed-in/popup")
def signed_in_popup() -> tuple[str, int]:
    """The end of a sign-in run in a popup: it tells its opener and closes."""
    return render_template("pages/signin_popup_done.html", next_url=signin._local_path(request.args.get("next")),
                           page_error=None, api_base="", invoice_url=""), 200


@bp.get("/signed-out")
def signed_out() -> tuple[str, int]:
    """After signing out."""
    return render_template("pages/signin.html", page_error=None, signed_out=True, api_base="", invoice_url=""), 200


def _page_context() -> dict[str, str | None]:
    """Where the page's scripts find the API, and where an invoice opens (`{id}` stands for its id).

    The org is the configured Dataverse URL, never a URL parameter (a link must not lead elsewhere);
    against a local Dataverse (loopback) invoices open in the read-only invoice page.
    """
    config = app_config()
    org = config.dataverse_url.rstrip("/")
    if is_loopback(urlsplit(org).hostname):
        invoice_url = f"{request.script_root}/pages/invoice?id={{id}}"
    else:
        invoice_url = f"{org}/main.aspx?pagetype=entityrecord&etn=invoice&id={{id}}"
    user = signin.signed_in_user()
    return {"api_base": f"{request.script_root}/api/v1", "invoice_url": invoice_url,
            "csrf_token": signin.csrf_token() if user else "", "user": user}


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


@bp.route("/bulk", methods=["GET", "POST"])
def bulk() -> tuple[str, int]:
    """The bulk Generate Invoice window (`?ids=<id>,<id>,…`, or a form POST of `ids` for long selections);
    `?run=<run id>`: the window of a run already started (its progress and Result, never a fresh form)."""
    run_id = request.args.get("run", "") if request.method == "GET" else ""
    if run_id:
        run = parse_guid(run_id)
        error = None if run else "“{}” is not an invoice run id.".format(run_id[:80])
        html = render_template("pages/bulk.html", contract_ids=[], run_id=run, page_error=error, **_page_context())
        return html, 400 if error else 200
    source = request.form if request.method == "POST" else request.args
    raw_ids = source.get("ids", "")
    if request.method == "GET" and request.args.get("pending"):  # a long selection POSTed before sign-in
        raw_ids = session.pop(signin.PENDING_IDS, "") or ""
    ids, bad = parse_guid_list(raw_ids)
    error = _bulk_error(ids, bad)
    html = render_template("pages/bulk.html", contract_ids=[] if error else ids, run_id=None, page_error=error,
                           **_page_context())
    return html, 400 if error else 200


@bp.get("/runs")
def runs() -> tuple[str, int]:
    """The user's recent invoice runs, each linking to its window."""
    return render_template("pages/runs.html", page_error=None, **_page_context()), 200


@bp.get("/invoice")
def invoice() -> tuple[str, int]:
    """A read-only view of one invoice (`?id=`), where "Open invoice" leads against a local Dataverse."""
    raw = request.args.get("id", "")
    invoice_id = parse_guid(raw) if raw else None
    error = None if invoice_id else "No invoice was given (the id= parameter is missing or not an invoice id)."
    html = render_template("pages/invoice.html", invoice_id=invoice_id, page_error=error, **_page_context())
    return html, 400 if error else 200
