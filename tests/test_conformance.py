"""The independent conformance checker scim2-tester, run against a real server process.

``scim2 --url BASE -h "Authorization: Bearer TOKEN" test`` (the scim2-cli package) sends
~430 requests: discovery, then for each ResourceType POST/GET/list/.search/PUT/PATCH
(add, replace, remove on every writable attribute)/DELETE, and checks every answer
against the schemas we advertise. It exits 0 only if every check succeeded; a skipped
check counts as a failure too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.live


def test_scim2_tester_passes_against_a_live_tenant(live_server):
    """Every scim2-tester check is SUCCESS on a fresh tenant of `scim-gateway serve`."""
    tenant = live_server.create_tenant("conformance")
    # scim2-tester fills userName with random UUIDs, so this tenant turns off the seed's
    # "userName must be an email" rule (the uniqueness plugin's require_email option).
    live_server.cli("tenants", "configure", "conformance",
                    '{"plugins": {"uniqueness": {"options": {"require_email": false}}}}')
    scim2 = shutil.which("scim2")
    assert scim2, "scim2-cli is a test dependency: pip install -e '.[test]'"
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    result = subprocess.run(
        [scim2, "--url", tenant["tenant_url"], "-h", f"Authorization: Bearer {tenant['token']}", "test"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    output = result.stdout + result.stderr
    statuses = re.findall(r"^(SUCCESS|ERROR|SKIPPED|CRITICAL|WARNING)\b", output, re.MULTILINE)
    failures = [line for line in output.splitlines() if re.match(r"^(ERROR|SKIPPED|CRITICAL)\b", line)]
    assert result.returncode == 0 and not failures, output[-6000:]
    assert statuses.count("SUCCESS") >= 60, output[-3000:]
