"""The repo stands on its own: its code and docs cite its own documents, which exist."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tracked(*patterns: str) -> list[Path]:
    names = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return [ROOT / name for name in names if not name.startswith("tests/")]


def test_no_code_or_doc_cites_a_design_file_users_do_not_have():
    offenders = [str(p.relative_to(ROOT)) for p in tracked("*.py", "*.md", "*.js", "*.html", "*.cfg", "*.toml")
                 if re.search(r"DESIGN( |\.md|§)", p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_every_cited_repo_document_exists():
    cited = set()
    for path in tracked("*.py", "*.md", "*.js", "*.html"):
        cited |= set(re.findall(r"\bdocs/[a-z-]+\.md\b", path.read_text(encoding="utf-8")))
    assert cited, "no document is cited at all"
    assert sorted(doc for doc in cited if not (ROOT / doc).is_file()) == []
