"""A last line of defence: secret-shaped strings never leave in an error or a log line.

Tokens and admin keys are never stored or logged by design (only digests and display
prefixes are). But error messages quote what the caller sent (``count must be an integer,
got '...'``, ``User '...' not found``), and a client that pastes its token into the wrong
place would get it back in an error body, or see it in an exception's log line. So every
answer with a status >= 400 and every log record the gateway formats has each
``scimgw_...`` string longer than a display prefix replaced by ``[redacted]``. Success
answers are left alone: the one that shows a new secret must show it.
"""

from __future__ import annotations

import re

from flask import Flask

from tenants.secrets import SECRET_PREFIX

#: Display prefixes are at most 16 characters (``scimgw_admin_`` + 3); a secret is 50 or more.
_SECRET = re.compile(re.escape(SECRET_PREFIX) + r"[A-Za-z0-9_-]{10,}")
_SECRET_BYTES = re.compile(_SECRET.pattern.encode("ascii"))
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """``text`` with every secret-shaped substring replaced by ``[redacted]``."""
    return _SECRET.sub(REDACTED, text) if SECRET_PREFIX in text else text


def _scrub_error_body(response):
    if response.status_code >= 400 and not response.direct_passthrough and not response.is_streamed:
        body = response.get_data()
        if SECRET_PREFIX.encode("ascii") in body:
            response.set_data(_SECRET_BYTES.sub(REDACTED.encode("ascii"), body))
    return response


def init_app(app: Flask) -> None:
    """Scrub the body of every error answer of ``app``."""
    app.after_request(_scrub_error_body)
