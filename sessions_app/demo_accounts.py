"""The demo accounts ``make run`` creates, for local use only (imported without Django by ``scripts/run.sh``).

Known passwords are the point (a newcomer can open the staff pages at once)
and the danger: ``seed_accounts`` creates them only when ``DEBUG`` is on,
unless told otherwise, so a deployment never gets them by accident.
"""

from __future__ import annotations

import os

#: username -> (password, is_staff)
ACCOUNTS: dict[str, tuple[str, bool]] = {
    "staff": ("staff-demo-password", True),
    "demo": ("demo-user-password", False),
}


def banner() -> str:
    """One line for the ``make run`` banner (empty when ``DEBUG`` is off: then no account was created)."""
    if os.environ.get("DEBUG", "").strip().lower() not in {"1", "true", "yes", "on"}:
        return ""
    pairs = ", ".join(f"{name} / {password}{' (staff)' if staff else ''}"
                      for name, (password, staff) in ACCOUNTS.items())
    return f"  Log in:   {pairs}  (local use only)"
