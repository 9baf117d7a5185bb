"""Reading the console's form fields and query parameters (no library needed)."""

from __future__ import annotations

import re

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200

# The grace periods offered when rotating a Secret token: (form value, label).
GRACE_CHOICES = [
    ("3600", "Older tokens stay valid for 1 hour"),
    ("86400", "Older tokens stay valid for 24 hours"),
    ("604800", "Older tokens stay valid for 7 days"),
    ("0", "Older tokens stop working now"),
    ("keep", "Older tokens stay valid (no expiry)"),
]


def positive_int(value, default: int, maximum: int | None = None) -> int:
    """``value`` as an int of at least 1 (``default`` when missing or not a number)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    if number < 1:
        return default
    return min(number, maximum) if maximum else number


def paging(args) -> tuple[int, int]:
    """``(page, per_page)`` from ``?page=&per_page=``."""
    return (positive_int(args.get("page"), 1),
            positive_int(args.get("per_page"), DEFAULT_PER_PAGE, MAX_PER_PAGE))


def grace_seconds(value: str | None) -> int | None:
    """The grace period of the rotate form: seconds, or ``None`` to keep older tokens."""
    value = (value or "").strip()
    if value in ("", "keep"):
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise ValueError("Choose how long older tokens stay valid.") from None
    if seconds < 0:
        raise ValueError("The grace period must be zero or more seconds.")
    return seconds


def permission_list(text: str | None) -> list[str]:
    """Permissions typed one per line (commas and spaces separate them too)."""
    return [item for item in re.split(r"[\s,]+", text or "") if item]


def clean_text(value: str | None, limit: int = 255) -> str:
    """A trimmed single-line text field."""
    return (value or "").strip()[:limit]


def actor_filter(value: str | None) -> str:
    """The audit log's actor as typed, qualified: ``alice`` -> ``admin:alice``, a token
    prefix ``scimgw_Ab`` -> ``token:scimgw_Ab``; ``cli`` and qualified actors as they are."""
    value = clean_text(value, 120)
    if not value or value == "cli" or ":" in value:
        return value
    return ("token:" if value.startswith("scimgw_") else "admin:") + value
