"""The HTML of the local sign-in: the user picker, the error page, and the form_post answer."""

from __future__ import annotations

from html import escape
from typing import Any, Iterable, Mapping

_ROLES = {0: "None", 1: "Sales", 2: "Billing", 3: "Admin"}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:40rem;color:#222}"
    "table{border-collapse:collapse;width:100%}td,th{padding:.4rem;border-bottom:1px solid #ddd;"
    "text-align:left}button{padding:.3rem .8rem}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _hidden(params: Mapping[str, str]) -> str:
    return "".join(
        f'<input type=hidden name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )


def picker(action: str, params: Mapping[str, str], users: Iterable[dict[str, Any]]) -> str:
    """A table of users, each with a button posting the request back with its `systemuserid`."""
    rows = []
    for user in users:
        role = user.get("w365_billingrole")
        role_text = _ROLES.get(role, "") if role is not None else ""
        rows.append(
            "<tr>"
            f"<td>{escape(str(user.get('fullname') or ''))}</td>"
            f"<td>{escape(str(user.get('domainname') or ''))}</td>"
            f"<td>{escape(role_text)}</td>"
            f'<td><form method=post action="{escape(action)}">{_hidden(params)}'
            f'<button name=systemuserid value="{escape(str(user["systemuserid"]))}">'
            "Sign in</button></form></td></tr>"
        )
    table = (
        "<table><thead><tr><th>Name</th><th>User name</th><th>Billing role</th><th></th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No user has an <code>azureactivedirectoryobjectid</code>: create one in "
        "<code>systemusers</code> first.</p>"
    )
    client = escape(params.get("client_id", ""))
    return _page(
        "Sign in to the local Dataverse",
        f"<p>Pick the user that <code>{client}</code> signs in as.</p>{table}",
    )


def error(message: str) -> str:
    """The page shown when the request cannot be answered by a redirect."""
    return _page("Sign-in request refused", f"<p class=error>{escape(message)}</p>")


def form_post(redirect_uri: str, fields: Mapping[str, str]) -> str:
    """`response_mode=form_post`: a form that posts `fields` to the client at once."""
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Signing in</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method=post action="{escape(redirect_uri)}">{_hidden(fields)}'
        "<noscript><button>Continue</button></noscript></form></body></html>"
    )
