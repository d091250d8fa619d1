"""Secrets the service makes for itself when the environment gives none, kept in `./.w365/`."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def kept_secret(path: Path, nbytes: int = 32) -> str:
    """The secret in `path`, made once (random, readable by its owner only); every process shares it."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(nbytes)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: theirs wins
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)
    return secret
