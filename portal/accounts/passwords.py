"""What a password must be: long enough, and not one that attackers try first.

Following NIST SP 800-63B, a new password is checked against a list of commonly used
ones rather than against composition rules. The list is `common-passwords.txt.gz`: the
20,000 most common passwords compiled by Royce Williams
(https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce), as Django ships
it for its CommonPasswordValidator (lower-cased, deduplicated).
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def password_problem(password: object, *, email: str = "") -> str | None:
    """Why `password` cannot be used, or None if it can."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    folded = password.strip().lower()
    if folded in common_passwords():
        return "This password is one of the most common ones; choose one that is harder to guess."
    if email and folded in {email.lower(), email.split("@")[0].lower()}:
        return "Do not use your email address as your password."
    return None
