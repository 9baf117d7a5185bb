"""The console in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright's Python package, against a real ``scim-gateway serve`` process.

The MSP's whole journey from the seed: sign in with an admin key, create a tenant, copy
its Tenant URL and Secret token from the page, provision a group and users through SCIM
with them (as Entra would), create a role, map the group to it in the Group Mapping list,
open a user's sidebar and see the role with the group that grants it, give a user an
individual permission, toggle Enabled off and on. The audit log page must show every
step, in order. Screenshots of the main pages go to ``test-artifacts/screenshots/``.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``.ci/run`` installs
it). If it is missing or cannot start, the test fails and says so; it never skips.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import requests

from tenants import services

from .conftest import start_server, stop_server

pytestmark = pytest.mark.live

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
TIMEOUT_MS = 20_000


@pytest.fixture
def browser():
    """Headless Chromium from Debian, or a failure that says what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright's Python package is not installed: pip install -e '.[test]' "
                    "(or pip install playwright).")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get update && apt-get install -y chromium "
                    "(.ci/run does this). Never `playwright install`: no browser is downloaded.")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as error:  # noqa: BLE001 - any launch failure must fail the test, loudly
            pytest.fail(f"Chromium at {CHROMIUM} could not be launched by Playwright: {error}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(tmp_path):
    live = start_server(tmp_path, f"sqlite:///{tmp_path}/console.db")
    yield live
    stop_server(live.process)


def shoot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def scim_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    return session


def test_msp_journey_in_a_real_browser(browser, server):
    admin = json.loads(server.cli("admin-keys", "create", "msp-admin", "--json"))
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    # -- sign in ----------------------------------------------------------------------------
    page.goto(f"{server.url}/console/")
    assert page.url.startswith(f"{server.url}/console/login")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    shoot(page, "01-sign-in.png")
    page.get_by_label("Admin key").fill("scimgw_admin_wrong")
    page.get_by_role("button", name="Sign in").click()
    assert "not valid" in page.locator(".error").inner_text()
    page.get_by_label("Admin key").fill(admin["key"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Tenants").wait_for()
    assert "msp-admin" in page.locator(".who").inner_text()
    cookie = next(c for c in context.cookies() if c["name"] == "scim_gateway_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and admin["key"] not in cookie["value"]

    # -- create a tenant, copy its Tenant URL and Secret token -----------------------------------
    page.get_by_role("link", name="New tenant").click()
    page.get_by_label("Slug").fill("contoso")
    page.get_by_label("Name").fill("Contoso Ltd")
    page.get_by_role("button", name="Create tenant").click()
    page.get_by_role("heading", name="Tenant contoso created").wait_for()
    tenant_url = page.get_by_label("Tenant URL").input_value()
    token = page.get_by_label("Secret token").input_value()
    assert tenant_url == f"{server.url}/tenants/contoso/scim/v2"
    assert token.startswith("scimgw_") and len(token) > 40

    # -- provision through SCIM with those credentials, as Entra would ---------------------------
    scim = scim_session(token)
    assert scim.get(f"{tenant_url}/ServiceProviderConfig").status_code == 200  # "Test Connection"
    users = {}
    for given, family in (("Ann", "Lee"), ("Bob", "Ray"), ("Cyd", "Fox")):
        user_name = f"{given.lower()}@contoso.com"
        created = scim.post(f"{tenant_url}/Users", json={
            "schemas": [USER_SCHEMA], "userName": user_name, "externalId": given.lower(),
            "name": {"givenName": given, "familyName": family}, "active": True,
        })
        assert created.status_code == 201, created.text
        users[user_name] = created.json()["id"]
    refused = scim.post(f"{tenant_url}/Users", json={"schemas": [USER_SCHEMA], "userName": "not-an-email"})
    assert refused.status_code == 400  # the seed: userName must be an email (an error on the chart)
    group = scim.post(f"{tenant_url}/Groups", json={
        "schemas": [GROUP_SCHEMA], "displayName": "Helpdesk",
        "members": [{"value": users["ann@contoso.com"]}, {"value": users["bob@contoso.com"]}],
    })
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]

    # -- the tenant list and the tenant page (sidebar, status, chart) ---------------------------
    page.goto(f"{server.url}/console/")
    row = page.locator("tr", has=page.get_by_role("link", name="contoso"))
    assert "Contoso Ltd" in row.inner_text() and "On" in row.inner_text()
    deadline = time.monotonic() + 15
    while "3" not in row.locator("td").nth(3).inner_text() and time.monotonic() < deadline:
        page.reload()
        row = page.locator("tr", has=page.get_by_role("link", name="contoso"))
    assert row.locator("td").nth(3).inner_text().startswith("3")
    shoot(page, "02-tenant-list.png")

    page.get_by_role("link", name="contoso").click()
    page.get_by_role("heading", name="Provisioning status").wait_for()
    assert page.get_by_label("Tenant URL").input_value() == tenant_url
    assert token not in page.content()  # shown once, never again
    assert page.locator("#stat-users").inner_text() == "3" and page.locator("#stat-groups").inner_text() == "1"
    # Each worker buffers its request counts and writes them at its next request a second
    # or more later (or when the console reads in that worker): poke until both are in.
    deadline = time.monotonic() + 30
    day = page.locator("#chart-day svg.chart")
    while day.locator("path.chart-errors").count() == 0 and time.monotonic() < deadline:
        time.sleep(1)
        scim.get(f"{tenant_url}/Groups")
        page.reload()
    for figure in ("#chart-day", "#chart-hour"):  # the last 24 hours, and the last hour in detail
        assert page.locator(f"{figure} svg.chart path.chart-requests").count() == 1
        assert page.locator(f"{figure} svg.chart path.chart-errors").count() == 1
        assert "time (UTC)" in page.locator(f"{figure} svg.chart").inner_html()
    assert re.search(r"\d+ requests?,\s+1 error ", page.locator("#chart-day figcaption").inner_text())
    shoot(page, "03-tenant-page.png")

    # -- the Enabled toggle: off, SCIM answers 403 (the failing "Test Connection"); back on -------
    page.locator("#enabled-toggle").click()
    page.get_by_text("Provisioning disabled for contoso.").wait_for()
    assert page.locator("#enabled-toggle").get_attribute("aria-checked") == "false"
    time.sleep(services.TRUST_SECONDS)  # the other worker may trust the row it read until then
    assert scim.get(f"{tenant_url}/Users").status_code == 403
    page.locator("#enabled-toggle").click()
    page.get_by_text("Provisioning enabled for contoso.").wait_for()
    time.sleep(services.TRUST_SECONDS)
    assert scim.get(f"{tenant_url}/Users").status_code == 200

    # -- a role, and the Group Mapping list -------------------------------------------------------
    page.get_by_role("link", name="Roles").click()
    page.get_by_label("Name", exact=True).fill("Technician")
    page.get_by_label("Permissions").fill("devices.manage\ntickets.close")
    page.get_by_role("button", name="Create role").click()
    page.get_by_text("Role Technician created.").wait_for()

    page.get_by_role("link", name="Group Mapping").click()
    mapping = page.locator(f"#roles-{group_id}")
    assert page.get_by_role("rowheader", name="Helpdesk").is_visible()
    mapping.select_option(label="Technician")
    page.locator(f"#group-{group_id}").get_by_role("button", name="Save").click()
    page.get_by_text("Group Helpdesk now grants: Technician.").wait_for()
    assert page.locator(f"#roles-{group_id} option:checked").all_inner_texts() == ["Technician"]
    shoot(page, "04-group-mapping.png")

    # -- the Users page and a user's sidebar ----------------------------------------------------
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Search users").fill("ann")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="ann@contoso.com").click()
    panel = page.locator("#user-panel")
    panel.get_by_role("heading", name="ann@contoso.com").wait_for()
    role_item = panel.locator("#user-roles li", has_text="Technician")
    assert role_item.count() == 1 and "Helpdesk" in role_item.inner_text()
    panel.get_by_label("Permissions").fill("reports.export")
    panel.get_by_role("button", name="Save permissions").click()
    page.get_by_text("Permissions of ann@contoso.com saved.").wait_for()
    assert page.locator("#user-panel").get_by_label("Permissions").input_value() == "reports.export"
    assert "Helpdesk" in page.locator("#user-roles").inner_text()
    shoot(page, "05-user-sidebar.png")

    # a user provisioned on their own has no role, and none can be added by hand
    page.goto(f"{server.url}/console/tenants/contoso/users?user={users['cyd@contoso.com']}")
    assert "No roles." in page.locator("#user-panel").inner_text()
    assert page.locator("#user-panel select").count() == 0

    # -- the audit log: every step, in order ------------------------------------------------------
    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    shoot(page, "06-audit-log.png")
    rows = page.locator("#audit-events tbody tr")
    events = [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
    events.reverse()  # the page is newest first
    token_actor = f"token:{token[:12]}"
    steps = [(actor, action, resource.split()[0]) for _, actor, action, resource, _, _ in events]
    assert steps == [
        ("admin:msp-admin", "tenant_created", "Tenant"),
        (token_actor, "create", "User"),
        (token_actor, "create", "User"),
        (token_actor, "create", "User"),
        (token_actor, "create", "Group"),
        ("admin:msp-admin", "tenant_updated", "Tenant"),  # Enabled off
        ("admin:msp-admin", "tenant_updated", "Tenant"),  # Enabled on
        ("admin:msp-admin", "role_created", "Role"),
        ("admin:msp-admin", "role_mapped", "Group"),
        ("admin:msp-admin", "permissions_set", "User"),
    ], events
    assert all(event[5] for event in events)  # each with its request id
    assert token not in page.content() and admin["key"] not in page.content()

    # -- sign out -----------------------------------------------------------------------------------
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    page.goto(f"{server.url}/console/tenants/contoso")
    assert page.url.startswith(f"{server.url}/console/login")
    # no CSP violation, no failed asset; only the wrong key's sign-in answered 401
    assert [text for text in console_errors if "status of 401" not in text] == [], console_errors
    context.close()
