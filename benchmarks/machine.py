"""What both benchmarks print about the machine they ran on: CPU model, PostgreSQL version."""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def postgres_version(url: str) -> str:
    """The ``server_version`` of the PostgreSQL server ``url`` names."""
    import psycopg2

    with contextlib.closing(psycopg2.connect(url, connect_timeout=5)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]
