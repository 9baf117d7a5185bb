"""Authentication and tenancy through HTTP: bearer tokens, the Enabled toggle, the shared
URL, cross-tenant isolation, token rotation and how tokens are stored."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import pytest

from tenants import secrets as token_secrets
from tenants import services
from tenants.db import database
from tenants.models import TenantToken

from .conftest import PATCH_SCHEMA, Scim, TenantCredentials, assert_scim_error

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SHARED_BASE = "/scim/v2"

ALL_ENDPOINTS = (
    ("GET", "/Users"),
    ("GET", "/Groups"),
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/User"),
    ("GET", "/Schemas"),
    ("GET", f"/Schemas/{USER_SCHEMA}"),
)


def _user_body(user_name: str, **extra) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **extra}


def _listing(scim: Scim, endpoint: str) -> dict:
    response = scim.get(f"/{endpoint}?count=1000")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _assert_401(response) -> dict:
    body = assert_scim_error(response, 401)
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.split(" ", 1)[0].lower() == "bearer", challenge
    return body


# --- missing, malformed and wrong tokens -------------------------------------------------


MALFORMED_AUTHORIZATION = (None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer    ", "Token abc",
                           "bearer-nospace")


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_missing_or_malformed_authorization_is_401(client, tenant, shared):
    base = SHARED_BASE if shared else tenant.base
    for authorization in MALFORMED_AUTHORIZATION:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.get(f"{base}/Users", headers=headers)
        assert response.status_code == 401, authorization
        _assert_401(response)


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_wrong_token_is_401(client, tenant, shared):
    base = SHARED_BASE if shared else tenant.base
    for wrong in (tenant.token + "x", tenant.token[:-1], token_secrets.new_secret(), "not-a-token"):
        response = client.get(f"{base}/Users", headers={"Authorization": f"Bearer {wrong}"})
        _assert_401(response)


def test_wrong_token_cannot_write(client, scim, tenant):
    before = _listing(scim, "Users")
    response = client.post(
        f"{tenant.base}/Users", data=json.dumps(_user_body("intruder@example.com")),
        content_type="application/scim+json", headers={"Authorization": "Bearer wrong"},
    )
    _assert_401(response)
    assert _listing(scim, "Users") == before


def test_token_scheme_is_case_insensitive(client, tenant):
    response = client.get(f"{tenant.base}/Users", headers={"Authorization": f"bearer {tenant.token}"})
    assert response.status_code == 200


def test_discovery_requires_a_token_too(client, tenant):
    for _, path in ALL_ENDPOINTS:
        _assert_401(client.get(f"{tenant.base}{path}"))


# --- disabled tenant ----------------------------------------------------------------------


def _set_enabled(slug: str, enabled: bool) -> None:
    with database.connection_context():
        services.set_enabled(slug, enabled)


def _assert_disabled(response) -> None:
    body = assert_scim_error(response, 403)
    assert "provisioning is disabled" in body["detail"].lower(), body["detail"]


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_disabled_tenant_gets_403_on_every_endpoint(client, tenant, shared):
    scim = Scim(client, tenant, SHARED_BASE if shared else None)
    user = scim.create_user("ann@example.com", name={"givenName": "Ann"})
    group = scim.create_group("Sales", [user["id"]])
    users_before, groups_before = _listing(scim, "Users"), _listing(scim, "Groups")

    _set_enabled(tenant.slug, False)
    patch = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    group_patch = {"schemas": [PATCH_SCHEMA],
                   "Operations": [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}]}
    requests_to_try = [
        *[(method, path, None) for method, path in ALL_ENDPOINTS],
        ("GET", f"/Users/{user['id']}", None),
        ("GET", f"/Groups/{group['id']}", None),
        ("GET", f'/Users?filter=userName eq "ann@example.com"', None),
        ("POST", "/Users", _user_body("bob@example.com")),
        ("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Other"}),
        ("PUT", f"/Users/{user['id']}", _user_body("ann@example.com", active=False)),
        ("PUT", f"/Groups/{group['id']}", {"schemas": [GROUP_SCHEMA], "displayName": "Renamed"}),
        ("PATCH", f"/Users/{user['id']}", patch),
        ("PATCH", f"/Groups/{group['id']}", group_patch),
        ("DELETE", f"/Users/{user['id']}", None),
        ("DELETE", f"/Groups/{group['id']}", None),
    ]
    for method, path, body in requests_to_try:
        _assert_disabled(scim.request(method, path, body))

    _set_enabled(tenant.slug, True)
    for method, path in ALL_ENDPOINTS:
        assert scim.request(method, path).status_code == 200, path
    assert scim.get(f"/Users/{user['id']}").status_code == 200
    # Nothing the disabled tenant's client sent was applied.
    assert _listing(scim, "Users") == users_before
    assert _listing(scim, "Groups") == groups_before


def test_disabled_tenant_with_wrong_token_is_still_401(client, tenant):
    """A 403 would tell a caller without a valid token that the tenant exists."""
    _set_enabled(tenant.slug, False)
    _assert_401(client.get(f"{tenant.base}/Users", headers={"Authorization": "Bearer wrong"}))


def test_disabling_one_tenant_leaves_others_working(client, make_tenant):
    a, b = make_tenant("alpha"), make_tenant("beta")
    _set_enabled(a.slug, False)
    _assert_disabled(Scim(client, a).get("/Users"))
    assert Scim(client, b).get("/Users").status_code == 200
    assert Scim(client, b, SHARED_BASE).get("/Users").status_code == 200


# --- shared URL ---------------------------------------------------------------------------


def test_shared_url_picks_the_tenant_from_the_token(client, make_tenant):
    a, b = make_tenant("alpha"), make_tenant("beta")
    shared_a, shared_b = Scim(client, a, SHARED_BASE), Scim(client, b, SHARED_BASE)
    ua = shared_a.create_user("ann@alpha.example")
    ub = shared_b.create_user("bob@beta.example")

    list_a = _listing(shared_a, "Users")
    list_b = _listing(shared_b, "Users")
    assert [u["id"] for u in list_a["Resources"]] == [ua["id"]]
    assert [u["id"] for u in list_b["Resources"]] == [ub["id"]]
    assert list_a["totalResults"] == list_b["totalResults"] == 1
    # The same users through each tenant's own Tenant URL.
    assert [u["id"] for u in _listing(Scim(client, a), "Users")["Resources"]] == [ua["id"]]
    assert [u["id"] for u in _listing(Scim(client, b), "Users")["Resources"]] == [ub["id"]]


def test_shared_url_locations_point_under_the_shared_base(client, tenant):
    shared = Scim(client, tenant, SHARED_BASE)
    response = shared.post("/Users", _user_body("ann@example.com"))
    assert response.status_code == 201
    user = response.get_json()
    expected = f"http://localhost/scim/v2/Users/{user['id']}"
    assert user["meta"]["location"] == expected
    assert response.headers["Location"] == expected
    assert shared.get(f"/Users/{user['id']}").get_json()["meta"]["location"] == expected

    group = shared.create_group("Sales", [user["id"]])
    assert group["meta"]["location"] == f"http://localhost/scim/v2/Groups/{group['id']}"
    assert group["members"][0]["$ref"] == expected

    # Through the Tenant URL the same user lives under the Tenant URL.
    tenant_view = Scim(client, tenant).get(f"/Users/{user['id']}").get_json()
    assert tenant_view["meta"]["location"] == f"http://localhost{tenant.base}/Users/{user['id']}"


# --- cross-tenant isolation -------------------------------------------------------------


@pytest.fixture
def two_tenants(client, make_tenant):
    """Tenant A with a user, a group with that user; tenant B with its own user and group."""
    a, b = make_tenant("alpha"), make_tenant("beta")
    scim_a = Scim(client, a)
    ua = scim_a.create_user("Ann.Secret@alpha.example", externalId="ext-alpha-1",
                            name={"givenName": "Annalpha", "familyName": "Secretalpha"})
    ga = scim_a.create_group("Alpha Secret Group", [ua["id"]], externalId="ext-alpha-group")
    scim_b = Scim(client, b, SHARED_BASE)
    ub = scim_b.create_user("bob@beta.example")
    gb = scim_b.create_group("Beta Group", [ub["id"]])
    return {"a": a, "b": b, "scim_a": scim_a, "scim_b": scim_b, "ua": ua, "ga": ga, "ub": ub, "gb": gb}


def _a_secrets(env) -> list[str]:
    ua, ga = env["ua"], env["ga"]
    return [ua["id"], ga["id"], "ann.secret", "annalpha", "secretalpha", "ext-alpha", "alpha secret group",
            env["a"].slug]


def _assert_no_leak(response, env, allow: tuple[str, ...] = ()) -> None:
    text = response.get_data(as_text=True).lower()
    for secret in _a_secrets(env):
        if secret.lower() in {s.lower() for s in allow}:
            continue
        assert secret.lower() not in text, f"{secret!r} leaked in {response.status_code}: {text}"


def _a_state(env) -> tuple:
    scim_a = env["scim_a"]
    user = scim_a.get(f"/Users/{env['ua']['id']}")
    group = scim_a.get(f"/Groups/{env['ga']['id']}")
    assert user.status_code == 200 and group.status_code == 200
    return user.get_json(), group.get_json(), _listing(scim_a, "Users"), _listing(scim_a, "Groups")


def test_other_tenants_token_on_a_tenant_url_is_401_like_a_wrong_token(client, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    with_b = client.get(f"{a.base}/Users", headers={"Authorization": f"Bearer {b.token}"})
    wrong = client.get(f"{a.base}/Users", headers={"Authorization": "Bearer wrong-token"})
    nowhere = client.get("/tenants/no-such-tenant/scim/v2/Users",
                         headers={"Authorization": f"Bearer {b.token}"})
    for response in (with_b, wrong, nowhere):
        _assert_401(response)
    assert with_b.get_json() == wrong.get_json() == nowhere.get_json()
    assert with_b.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"] \
        == nowhere.headers["WWW-Authenticate"]
    _assert_no_leak(with_b, two_tenants, allow=(a.slug,))


def test_other_tenants_token_cannot_touch_a_resources_through_a_tenant_url(client, two_tenants):
    a, b, ua = two_tenants["a"], two_tenants["b"], two_tenants["ua"]
    before = _a_state(two_tenants)
    as_b_on_a = Scim(client, TenantCredentials(a.slug, b.token))
    for method, path, body in [
        ("GET", f"/Users/{ua['id']}", None),
        ("PUT", f"/Users/{ua['id']}", _user_body("taken@beta.example")),
        ("PATCH", f"/Users/{ua['id']}", {"schemas": [PATCH_SCHEMA],
                                         "Operations": [{"op": "replace", "path": "active", "value": False}]}),
        ("DELETE", f"/Users/{ua['id']}", None),
        ("POST", "/Users", _user_body("new@beta.example")),
    ]:
        _assert_401(as_b_on_a.request(method, path, body))
    assert _a_state(two_tenants) == before


def _not_found_like_random(response, scim_b, method, endpoint, a_id, body) -> None:
    """B's answer for A's id is a 404 identical to the one for an id that never existed."""
    body_out = assert_scim_error(response, 404)
    random_id = str(uuid.uuid4())
    control = scim_b.request(method, f"/{endpoint}/{random_id}", body)
    control_body = assert_scim_error(control, 404)
    assert json.loads(json.dumps(body_out).replace(a_id, random_id)) == control_body


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_other_tenants_ids_are_404_on_the_shared_url(two_tenants, endpoint):
    scim_b = two_tenants["scim_b"]
    target = two_tenants["ua" if endpoint == "Users" else "ga"]
    before = _a_state(two_tenants)
    if endpoint == "Users":
        put_body = _user_body("hijack@beta.example", active=False)
        patch_ops = [{"op": "replace", "path": "active", "value": False},
                     {"op": "replace", "path": "userName", "value": "hijack@beta.example"}]
    else:
        put_body = {"schemas": [GROUP_SCHEMA], "displayName": "Hijacked", "members": []}
        patch_ops = [{"op": "remove", "path": "members"},
                     {"op": "replace", "path": "displayName", "value": "Hijacked"}]
    patch_body = {"schemas": [PATCH_SCHEMA], "Operations": patch_ops}
    for method, body in (("GET", None), ("PUT", put_body), ("PATCH", patch_body), ("DELETE", None)):
        response = scim_b.request(method, f"/{endpoint}/{target['id']}", body)
        _not_found_like_random(response, scim_b, method, endpoint, target["id"], body)
        _assert_no_leak(response, two_tenants, allow=(target["id"],))
    assert _a_state(two_tenants) == before


@pytest.mark.parametrize("endpoint, filter_text", [
    ("Users", 'userName eq "Ann.Secret@alpha.example"'),
    ("Users", 'userName eq "ann.secret@alpha.example"'),
    ("Users", 'externalId eq "ext-alpha-1"'),
    ("Users", 'id eq "{ua}"'),
    ("Users", 'userName sw "ann"'),
    ("Users", 'name.givenName eq "Annalpha"'),
    ("Groups", 'displayName eq "Alpha Secret Group"'),
    ("Groups", 'externalId eq "ext-alpha-group"'),
    ("Groups", 'id eq "{ga}"'),
    ("Groups", 'members eq "{ua}"'),
    ("Groups", 'id eq "{ga}" and members eq "{ua}"'),
])
def test_filters_never_find_another_tenants_resources(two_tenants, endpoint, filter_text):
    scim_b = two_tenants["scim_b"]
    text = filter_text.format(ua=two_tenants["ua"]["id"], ga=two_tenants["ga"]["id"])
    for query in (f"filter={text}", f"filter={text}&excludedAttributes=members", f"filter={text}&attributes=id"):
        response = scim_b.get(f"/{endpoint}?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert body["totalResults"] == 0
        assert body["Resources"] == []
        _assert_no_leak(response, two_tenants)


def test_other_tenants_listings_show_only_their_own_resources(two_tenants):
    scim_b = two_tenants["scim_b"]
    for endpoint, own in (("Users", two_tenants["ub"]), ("Groups", two_tenants["gb"])):
        response = scim_b.get(f"/{endpoint}?count=1000")
        assert [r["id"] for r in response.get_json()["Resources"]] == [own["id"]]
        _assert_no_leak(response, two_tenants)
    group = scim_b.get(f"/Groups/{two_tenants['gb']['id']}")
    assert [m["value"] for m in group.get_json()["members"]] == [two_tenants["ub"]["id"]]
    _assert_no_leak(group, two_tenants)


def test_other_tenants_user_cannot_become_a_member(two_tenants):
    scim_b, ua, ub, gb = two_tenants["scim_b"], two_tenants["ua"], two_tenants["ub"], two_tenants["gb"]
    before_a = _a_state(two_tenants)
    groups_b_before = _listing(scim_b, "Groups")
    attempts = [
        ("PATCH", f"/Groups/{gb['id']}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": ua["id"]}]}]}),
        ("PATCH", f"/Groups/{gb['id']}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Add", "value": {"members": [{"value": ua["id"]}]}}]}),
        ("PATCH", f"/Groups/{gb['id']}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "path": "members", "value": [{"value": ub["id"]}, {"value": ua["id"]}]}]}),
        ("PUT", f"/Groups/{gb['id']}", {"schemas": [GROUP_SCHEMA], "displayName": "Beta Group",
                                       "members": [{"value": ub["id"]}, {"value": ua["id"]}]}),
        ("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Beta Other",
                             "members": [{"value": ua["id"]}]}),
    ]
    for method, path, body in attempts:
        response = scim_b.request(method, path, body)
        assert_scim_error(response, 400, "invalidValue")
        # The answer only echoes what B sent; it is the same as for an id that never existed.
        random_id = str(uuid.uuid4())
        control = scim_b.request(method, path, json.loads(json.dumps(body).replace(ua["id"], random_id)))
        assert json.loads(response.get_data(as_text=True).replace(ua["id"], random_id)) == control.get_json()
        _assert_no_leak(response, two_tenants, allow=(ua["id"],))
    assert _listing(scim_b, "Groups") == groups_b_before
    assert _a_state(two_tenants) == before_a


# --- token rotation ----------------------------------------------------------------------


def _issue(slug: str, **kwargs) -> str:
    with database.connection_context():
        return services.issue_token(slug, **kwargs).secret


def _status_with(client, base: str, token: str) -> int:
    return client.get(f"{base}/Users", headers={"Authorization": f"Bearer {token}"}).status_code


def test_rotation_without_grace_revokes_the_old_token(client, tenant):
    new = _issue(tenant.slug, grace_seconds=0)
    assert new != tenant.token
    for base in (tenant.base, SHARED_BASE):
        _assert_401(client.get(f"{base}/Users", headers={"Authorization": f"Bearer {tenant.token}"}))
        assert _status_with(client, base, new) == 200


def test_rotation_with_grace_keeps_both_tokens(client, tenant):
    new = _issue(tenant.slug, grace_seconds=3600)
    for base in (tenant.base, SHARED_BASE):
        assert _status_with(client, base, tenant.token) == 200
        assert _status_with(client, base, new) == 200
    # A later rotation without grace ends both older tokens.
    newest = _issue(tenant.slug, grace_seconds=0)
    assert _status_with(client, tenant.base, tenant.token) == 401
    assert _status_with(client, tenant.base, new) == 401
    assert _status_with(client, tenant.base, newest) == 200


def test_rotated_token_of_one_tenant_does_not_affect_another(client, make_tenant):
    a, b = make_tenant("alpha"), make_tenant("beta")
    _issue(a.slug, grace_seconds=0)
    assert _status_with(client, a.base, a.token) == 401
    assert _status_with(client, b.base, b.token) == 200


# --- token storage -----------------------------------------------------------------------


def _token_rows() -> list[dict]:
    with database.connection_context():
        return list(TenantToken.select().dicts())


def test_tokens_are_stored_only_as_sha256(app, make_tenant, database_url):
    a = make_tenant("alpha")
    rotated = _issue(a.slug, grace_seconds=60)
    secrets = [a.token, rotated]
    rows = _token_rows()
    assert len(rows) == 2
    assert sorted(row["digest"] for row in rows) == sorted(hashlib.sha256(s.encode()).hexdigest() for s in secrets)
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", row["digest"])
        for secret in secrets:
            random_part = secret[len(token_secrets.SECRET_PREFIX):]
            for column, value in row.items():
                assert random_part not in str(value), f"secret stored in column {column}"
        # The display prefix is short: it cannot reveal more than a few characters.
        assert len(row["prefix"]) <= 16

    # Not in any table, nor anywhere in the database files (WAL included). Only a SQLite
    # file is the test's own to read; PostgreSQL's files belong to the server.
    if not database_url.startswith("sqlite:///"):
        return
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert files
    for file in files:
        data = file.read_bytes()
        for secret in secrets:
            assert secret[len(token_secrets.SECRET_PREFIX):].encode() not in data, file.name


def test_tokens_have_at_least_256_bits(make_tenant):
    seen = set()
    for index in range(5):
        token = make_tenant(f"t{index}").token
        assert token.startswith(token_secrets.SECRET_PREFIX)
        random_part = token[len(token_secrets.SECRET_PREFIX):]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", random_part), token
        seen.add(random_part)
    assert len(seen) == 5


def test_same_names_in_another_tenant_are_independent(two_tenants):
    """Uniqueness is per tenant: a 409 here would tell B that A has that name."""
    scim_b = two_tenants["scim_b"]
    before_a = _a_state(two_tenants)
    user = scim_b.post("/Users", _user_body("ann.secret@ALPHA.example", externalId="ext-alpha-1"))
    assert user.status_code == 201, user.get_data(as_text=True)
    group = scim_b.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "alpha secret GROUP",
                                    "externalId": "ext-alpha-group"})
    assert group.status_code == 201, group.get_data(as_text=True)
    assert user.get_json()["id"] != two_tenants["ua"]["id"]
    assert group.get_json()["id"] != two_tenants["ga"]["id"]
    # Each tenant's filter finds only its own.
    found = scim_b.get('/Users?filter=externalId eq "ext-alpha-1"').get_json()
    assert [r["id"] for r in found["Resources"]] == [user.get_json()["id"]]
    assert _a_state(two_tenants) == before_a
    # Renaming B's resources onto A's names also works (no cross-tenant uniqueness).
    renamed = scim_b.patch(f"/Users/{two_tenants['ub']['id']}",
                           [{"op": "replace", "path": "userName", "value": "Ann.Secret@alpha.example"}])
    assert renamed.status_code == 409  # B's own new user already has that name, case-insensitively
    assert renamed.get_json()["scimType"] == "uniqueness"


def test_member_removal_filters_never_reach_another_tenant(two_tenants):
    scim_b, ua, gb = two_tenants["scim_b"], two_tenants["ua"], two_tenants["gb"]
    before_a = _a_state(two_tenants)
    before_b = scim_b.get(f"/Groups/{gb['id']}").get_json()
    for path in (f'members[value eq "{ua["id"]}"]', 'members[display eq "Ann.Secret@alpha.example"]',
                 f'members[value eq "{ua["id"]}" or display sw "ann"]'):
        response = scim_b.patch(f"/Groups/{gb['id']}", [{"op": "remove", "path": path}])
        assert response.status_code in (200, 204, 400), response.get_data(as_text=True)
        _assert_no_leak(response, two_tenants, allow=(ua["id"], "ann.secret", "alpha"))
    response = scim_b.patch(f"/Groups/{gb['id']}", [
        {"op": "remove", "path": "members", "value": [{"value": ua["id"]}]}])
    assert response.status_code in (200, 204, 400)
    after_b = scim_b.get(f"/Groups/{gb['id']}").get_json()
    assert [m["value"] for m in after_b["members"]] == [m["value"] for m in before_b["members"]]
    assert _a_state(two_tenants) == before_a


def test_an_unchanged_token_row_gives_the_same_instances_and_any_change_here_is_read_at_once(app, tenant):
    """authenticate() reuses what it made from a row only while the row is unchanged, and
    a disable, a rename or a revocation made in this process counts at once."""
    with database.connection_context():
        first = services.authenticate(tenant.token)
        assert services.authenticate(tenant.token) is first and first.tenant.enabled is True

        services.set_enabled(tenant.slug, False)
        disabled = services.authenticate(tenant.token)
        assert disabled is not first and disabled.tenant.enabled is False
        assert first.tenant.enabled is True  # the shared instances are never changed in place

        services.update_tenant(tenant.slug, name="Acme Corp", enabled=True)
        renamed = services.authenticate(tenant.token)
        assert renamed.tenant.name == "Acme Corp" and renamed.tenant.enabled is True

        assert services.revoke_token(tenant.slug, first.prefix) == 1
        assert services.authenticate(tenant.token) is None

        rotated = services.issue_token(tenant.slug).secret
        assert services.authenticate(rotated).tenant.slug == tenant.slug
        newest = services.issue_token(tenant.slug, grace_seconds=0).secret  # the older ones expire now
        assert services.authenticate(rotated) is None and services.authenticate(newest) is not None
        services.delete_tenant(tenant.slug)
        assert services.authenticate(newest) is None


def test_a_token_row_changed_elsewhere_is_read_again_once_trusted_long_enough(app, tenant, monkeypatch):
    """Another process's change (here a bare UPDATE, not through tenants.services) reaches
    this one when the row has been trusted for TRUST_SECONDS; unknown secrets never stay."""
    from tenants.models import Tenant

    with database.connection_context():
        monkeypatch.setattr(services, "TRUST_SECONDS", 3600)
        first = services.authenticate(tenant.token)
        Tenant.update(enabled=False).where(Tenant.slug == tenant.slug).execute()  # as another process would
        assert services.authenticate(tenant.token) is first and first.tenant.enabled is True  # still trusted

        monkeypatch.setattr(services, "TRUST_SECONDS", 0)
        refreshed = services.authenticate(tenant.token)
        assert refreshed is not first and refreshed.tenant.enabled is False
        assert first.tenant.enabled is True  # the instance other requests may hold is not changed

        wrong = tenant.token[:-4] + "abcd"
        assert services.authenticate(wrong) is None
        assert token_secrets.digest(wrong) not in services._MADE_FROM  # a miss is not remembered
