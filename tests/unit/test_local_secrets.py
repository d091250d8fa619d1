"""Secrets the service makes for itself: made once, kept private, shared by every process."""
from __future__ import annotations

import stat

from plugin.local_secrets import kept_secret


def test_a_secret_is_made_once_private_and_then_reused(tmp_path):
    path = tmp_path / ".w365" / "some.key"
    first = kept_secret(path)
    assert first and kept_secret(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_secret_another_process_made_first_wins(tmp_path):
    path = tmp_path / "raced.key"
    path.write_text("theirs\n")
    assert kept_secret(path) == "theirs"
