"""Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas, and whether what
they advertise is the truth for a client that believes them."""

from __future__ import annotations

import itertools
from urllib.parse import quote, urlsplit

import pytest

from gateway.app import create_app
from tenants import services
from tenants.db import database

from .conftest import PATCH_SCHEMA, Scim, TenantCredentials, assert_scim_error

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SHARED_BASE = "/scim/v2"
COMMON_ATTRIBUTES = {"schemas", "id", "externalId", "meta"}
WRITABLE = {"readWrite", "writeOnly", "immutable"}


@pytest.fixture(params=["tenant-url", "shared-url"])
def any_scim(request, client, tenant):
    """The tenant's SCIM client on its Tenant URL and on the shared URL."""
    return Scim(client, tenant, SHARED_BASE if request.param == "shared-url" else None)


def _get(scim: Scim, path: str) -> dict:
    response = scim.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    return response.get_json()


def _schema(scim: Scim, urn: str) -> dict:
    return _get(scim, f"/Schemas/{urn}")


# --- ServiceProviderConfig -----------------------------------------------------------------


def test_service_provider_config(any_scim):
    config = _get(any_scim, "/ServiceProviderConfig")
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert config["patch"]["supported"] is True
    assert config["sort"]["supported"] is True
    assert config["etag"]["supported"] is True
    assert config["changePassword"]["supported"] is False
    assert config["filter"]["supported"] is True
    assert isinstance(config["filter"]["maxResults"], int) and config["filter"]["maxResults"] > 0
    schemes = config["authenticationSchemes"]
    assert [s["type"] for s in schemes] == ["oauthbearertoken"]
    assert schemes[0]["name"] and schemes[0]["description"]
    assert "id" not in config  # RFC 7643 §5: the config has no id


def test_advertised_max_results_is_enforced(database_url):
    """filter.maxResults is the truth: a bigger count gets at most that many resources."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "MAX_PAGE_SIZE": 3})
    with database.connection_context():
        _, token = services.create_tenant("acme")
    scim = Scim(app.test_client(), TenantCredentials("acme", token.secret))
    assert _get(scim, "/ServiceProviderConfig")["filter"]["maxResults"] == 3
    for index in range(5):
        scim.create_user(f"user{index}@example.com")
    page = _get(scim, "/Users?count=10")
    assert page["totalResults"] == 5
    assert page["itemsPerPage"] == len(page["Resources"]) == 3
    page = _get(scim, '/Users?filter=userName sw "user"&count=10')
    assert page["totalResults"] == 5 and len(page["Resources"]) == 3
    database.close()


def test_advertised_features_work(any_scim):
    """patch and filter are advertised as supported: they work."""
    user = any_scim.create_user("ann@example.com")
    patched = any_scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}])
    assert patched.status_code == 200 and patched.get_json()["active"] is False
    found = _get(any_scim, '/Users?filter=userName eq "ANN@example.com"')
    assert [r["id"] for r in found["Resources"]] == [user["id"]]


# --- ResourceTypes -------------------------------------------------------------------------


def test_resource_types(any_scim):
    listing = _get(any_scim, "/ResourceTypes")
    assert listing["schemas"] == [LIST_RESPONSE]
    assert listing["totalResults"] == len(listing["Resources"]) == 2
    by_name = {rt["name"]: rt for rt in listing["Resources"]}
    assert set(by_name) == {"User", "Group"}
    assert by_name["User"]["endpoint"] == "/Users"
    assert by_name["User"]["schema"] == USER_SCHEMA
    assert by_name["Group"]["endpoint"] == "/Groups"
    assert by_name["Group"]["schema"] == GROUP_SCHEMA
    for rt in listing["Resources"]:
        assert rt["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]
        assert rt["id"] == rt["name"]
        # No extension is advertised: none is stored.
        assert not rt.get("schemaExtensions")
        assert rt["meta"]["resourceType"] == "ResourceType"
        # Each one is also readable by id, identical.
        assert _get(any_scim, f"/ResourceTypes/{rt['id']}") == rt
        # Its endpoint exists and answers a ListResponse.
        assert _get(any_scim, rt["endpoint"])["schemas"] == [LIST_RESPONSE]


def test_resource_type_by_id(any_scim):
    user = _get(any_scim, "/ResourceTypes/User")
    assert user["id"] == "User" and user["endpoint"] == "/Users" and user["schema"] == USER_SCHEMA
    group = _get(any_scim, "/ResourceTypes/Group")
    assert group["id"] == "Group" and group["endpoint"] == "/Groups"
    for unknown in ("Nope", "EnterpriseUser", "Users"):
        assert_scim_error(any_scim.get(f"/ResourceTypes/{unknown}"), 404)


# --- Schemas -------------------------------------------------------------------------------


def _names(attributes: list[dict]) -> list[str]:
    return [a["name"] for a in attributes]


def test_schemas_list(any_scim):
    listing = _get(any_scim, "/Schemas")
    assert listing["schemas"] == [LIST_RESPONSE]
    ids = [s["id"] for s in listing["Resources"]]
    assert sorted(ids) == sorted([USER_SCHEMA, GROUP_SCHEMA])
    assert listing["totalResults"] == 2
    for schema in listing["Resources"]:
        assert schema["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        assert schema["meta"]["resourceType"] == "Schema"
        assert _schema(any_scim, schema["id"]) == schema


def test_user_schema_lists_exactly_what_is_stored(any_scim):
    schema = _schema(any_scim, USER_SCHEMA)
    assert schema["id"] == USER_SCHEMA and schema["name"] == "User"
    attributes = {a["name"]: a for a in schema["attributes"]}
    assert sorted(attributes) == ["active", "name", "userName"]
    assert attributes["userName"]["type"] == "string"
    assert attributes["userName"]["required"] is True
    assert attributes["userName"]["uniqueness"] == "server"
    assert attributes["userName"]["caseExact"] is False
    assert attributes["name"]["type"] == "complex"
    assert sorted(_names(attributes["name"]["subAttributes"])) == ["familyName", "givenName"]
    assert attributes["active"]["type"] == "boolean"
    for attribute in schema["attributes"]:
        _assert_attribute_definition(attribute)


def test_group_schema_lists_display_name_and_members(any_scim):
    schema = _schema(any_scim, GROUP_SCHEMA)
    assert schema["id"] == GROUP_SCHEMA and schema["name"] == "Group"
    attributes = {a["name"]: a for a in schema["attributes"]}
    assert sorted(attributes) == ["displayName", "members"]
    assert attributes["displayName"]["type"] == "string"
    assert attributes["displayName"]["required"] is True
    members = attributes["members"]
    assert members["type"] == "complex" and members["multiValued"] is True
    assert "value" in _names(members["subAttributes"])
    for attribute in schema["attributes"]:
        _assert_attribute_definition(attribute)


def _assert_attribute_definition(attribute: dict) -> None:
    """RFC 7643 §7: the characteristics every attribute definition carries."""
    assert attribute["type"] in {"string", "boolean", "decimal", "integer", "dateTime", "binary",
                                 "reference", "complex"}
    assert isinstance(attribute["multiValued"], bool)
    assert isinstance(attribute["required"], bool)
    assert isinstance(attribute["caseExact"], bool)
    assert attribute["mutability"] in {"readOnly", "readWrite", "immutable", "writeOnly"}
    assert attribute["returned"] in {"always", "never", "default", "request"}
    assert attribute["uniqueness"] in {"none", "server", "global"}
    if attribute["type"] == "reference":
        assert attribute["referenceTypes"]
    if attribute["type"] == "complex":
        assert attribute["subAttributes"]
        for sub in attribute["subAttributes"]:
            assert sub["type"] != "complex"
            _assert_attribute_definition(sub)


@pytest.mark.parametrize("urn", [
    ENTERPRISE_SCHEMA,
    "urn:ietf:params:scim:schemas:core:2.0:Nope",
    "Nope",
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
])
def test_unknown_schema_is_404(any_scim, urn):
    assert_scim_error(any_scim.get(f"/Schemas/{urn}"), 404)


# --- a client that believes /Schemas -------------------------------------------------------

_counter = itertools.count()


def _value_for(attribute: dict, boolean: bool, overrides: dict):
    """A value of the attribute's declared type (``overrides`` by name win)."""
    if attribute["name"] in overrides:
        return overrides[attribute["name"]]
    kind = attribute["type"]
    if kind == "complex":
        value = _fill(attribute["subAttributes"], boolean, overrides)
    elif kind == "boolean":
        value = boolean
    elif kind == "integer":
        value = next(_counter) + 7
    elif kind == "decimal":
        value = next(_counter) + 0.5
    elif kind == "dateTime":
        value = "2024-05-06T07:08:09Z"
    elif kind in ("string", "reference", "binary"):
        # Email-shaped, so an attribute that must be an email (userName) is satisfied too.
        value = f"{attribute['name'].lower().replace('$', '')}.v{next(_counter)}@example.com"
    else:  # pragma: no cover - the definitions test rejects other types
        raise AssertionError(kind)
    return [value] if attribute["multiValued"] else value


def _fill(attributes: list[dict], boolean: bool, overrides: dict) -> dict:
    """Every writable attribute and sub-attribute with a value."""
    return {a["name"]: _value_for(a, boolean, overrides) for a in attributes if a["mutability"] in WRITABLE}


def _returned_exactly(sent: dict, got: dict, attributes: list[dict]) -> None:
    definitions = {a["name"]: a for a in attributes}
    for name, value in sent.items():
        assert name in got, f"{name} was sent but not returned: {got}"
        definition = definitions[name]
        if definition["type"] == "complex" and definition["multiValued"]:
            # Compare the writable sub-attributes sent; readOnly ones (display) may be added.
            by_value = {item.get("value"): item for item in got[name]}
            assert len(got[name]) == len(value)
            for item in value:
                returned = by_value[item["value"]]
                assert {k: returned.get(k) for k in item} == item
        else:
            assert got[name] == value, name


def _nothing_unadvertised(resource: dict, attributes: list[dict]) -> None:
    """Everything returned is either common or advertised (with advertised sub-attributes)."""
    definitions = {a["name"]: a for a in attributes}
    for name, value in resource.items():
        if name in COMMON_ATTRIBUTES:
            continue
        assert name in definitions, f"{name} is returned but not advertised in /Schemas"
        subs = {s["name"] for s in definitions[name].get("subAttributes", [])}
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                assert set(item) <= subs, f"{name}: {set(item) - subs} not advertised"


@pytest.mark.parametrize("boolean", [False, True])
def test_schema_driven_client_gets_every_user_attribute_back(any_scim, boolean):
    schema = _schema(any_scim, USER_SCHEMA)
    attributes = schema["attributes"]
    body = _fill(attributes, boolean, {})
    assert set(body) == {"userName", "name", "active"}
    assert set(body["name"]) == {"givenName", "familyName"}

    response = any_scim.post("/Users", {"schemas": [USER_SCHEMA], **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    _returned_exactly(body, created, attributes)
    _nothing_unadvertised(created, attributes)
    fetched = _get(any_scim, f"/Users/{created['id']}")
    _returned_exactly(body, fetched, attributes)
    _nothing_unadvertised(fetched, attributes)
    listed = _get(any_scim, f'/Users?filter=id eq "{created["id"]}"')["Resources"]
    assert len(listed) == 1
    _returned_exactly(body, listed[0], attributes)

    # A full replacement with fresh values comes back as sent too.
    replacement = _fill(attributes, not boolean, {})
    response = any_scim.put(f"/Users/{created['id']}", {"schemas": [USER_SCHEMA], **replacement})
    assert response.status_code == 200, response.get_data(as_text=True)
    _returned_exactly(replacement, response.get_json(), attributes)
    _returned_exactly(replacement, _get(any_scim, f"/Users/{created['id']}"), attributes)


def test_schema_driven_client_gets_every_group_attribute_back(any_scim):
    users = [any_scim.create_user(f"member{i}@example.com") for i in range(2)]
    schema = _schema(any_scim, GROUP_SCHEMA)
    attributes = schema["attributes"]
    member_definition = next(a for a in attributes if a["name"] == "members")
    writable_subs = {s["name"] for s in member_definition["subAttributes"] if s["mutability"] in WRITABLE}
    assert "value" in writable_subs

    def member(user: dict) -> dict:
        # Values of each writable sub-attribute's declared type, that are true of this user.
        known = {"value": user["id"], "$ref": user["meta"]["location"], "type": "User",
                 "display": user["userName"]}
        assert writable_subs <= set(known), f"cannot fill {writable_subs - set(known)}"
        return {name: known[name] for name in writable_subs}

    body = _fill(attributes, False, {"members": [member(u) for u in users]})
    assert set(body) == {"displayName", "members"}
    response = any_scim.post("/Groups", {"schemas": [GROUP_SCHEMA], **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    _returned_exactly(body, created, attributes)
    _nothing_unadvertised(created, attributes)
    fetched = _get(any_scim, f"/Groups/{created['id']}")
    _returned_exactly(body, fetched, attributes)
    _nothing_unadvertised(fetched, attributes)
    # Every member also carries the readOnly display (the userName), as advertised.
    displays = {m["value"]: m.get("display") for m in fetched["members"]}
    assert displays == {u["id"]: u["userName"] for u in users}


def test_user_attributes_not_advertised_are_not_returned(any_scim):
    """Whatever else a client sends is disregarded, never echoed as if stored."""
    body = {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "userName": "ann@example.com",
        "displayName": "Ann Lee",
        "emails": [{"type": "work", "value": "ann@example.com", "primary": True}],
        "name": {"givenName": "Ann", "familyName": "Lee", "formatted": "Ann Lee", "middleName": "M"},
        "title": "Engineer",
        ENTERPRISE_SCHEMA: {"department": "R&D", "manager": {"value": "x"}},
    }
    response = any_scim.post("/Users", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    attributes = _schema(any_scim, USER_SCHEMA)["attributes"]
    for resource in (response.get_json(), _get(any_scim, f"/Users/{response.get_json()['id']}")):
        _nothing_unadvertised(resource, attributes)
        assert resource["name"] == {"givenName": "Ann", "familyName": "Lee"}
        assert resource["schemas"] == [USER_SCHEMA]


# --- meta.location -------------------------------------------------------------------------


def _discovery_resources(scim: Scim) -> list[dict]:
    resources = [_get(scim, "/ServiceProviderConfig")]
    resources += _get(scim, "/ResourceTypes")["Resources"]
    resources += _get(scim, "/Schemas")["Resources"]
    resources += [_get(scim, "/ResourceTypes/User"), _schema(scim, GROUP_SCHEMA)]
    return resources


def _assert_locations_under(scim: Scim, expected_base: str, resources: list[dict]) -> None:
    for resource in resources:
        location = resource["meta"]["location"]
        parts = urlsplit(location)
        assert parts.scheme in ("http", "https") and parts.netloc, location
        assert location.startswith(expected_base + "/"), (location, expected_base)


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_discovery_locations_are_absolute_under_the_request_base(client, tenant, shared):
    base = SHARED_BASE if shared else tenant.base
    scim = Scim(client, tenant, base)
    resources = _discovery_resources(scim)
    _assert_locations_under(scim, f"http://localhost{base}", resources)
    expected = {
        "ServiceProviderConfig": "/ServiceProviderConfig",
        "ResourceType": "/ResourceTypes/{id}",
        "Schema": "/Schemas/{id}",
    }
    for resource in resources:
        kind = resource["meta"]["resourceType"]
        assert resource["meta"]["location"] == f"http://localhost{base}" + expected[kind].format(
            id=resource.get("id"))
        # Following meta.location gives the same resource back.
        path = urlsplit(resource["meta"]["location"]).path
        followed = client.get(path, headers=scim.headers())
        assert followed.status_code == 200, path
        assert followed.get_json() == resource


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_discovery_locations_follow_the_host_the_client_used(client, tenant, shared):
    base = SHARED_BASE if shared else tenant.base
    headers = {"Authorization": f"Bearer {tenant.token}"}
    for origin in ("https://scim.example.net", "http://10.1.2.3:8080"):
        for path in ("/ServiceProviderConfig", "/ResourceTypes/Group", f"/Schemas/{quote(USER_SCHEMA)}"):
            response = client.get(base + path, headers=headers, base_url=origin)
            assert response.status_code == 200
            assert response.get_json()["meta"]["location"].startswith(f"{origin}{base}/")


def test_configured_public_url_is_the_base_of_locations(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "PUBLIC_URL": "https://gw.example.com/"})
    with database.connection_context():
        _, token = services.create_tenant("acme")
    tenant = TenantCredentials("acme", token.secret)
    client = app.test_client()
    for base in (tenant.base, SHARED_BASE):
        scim = Scim(client, tenant, base)
        _assert_locations_under(scim, f"https://gw.example.com{base}", _discovery_resources(scim))
    response = Scim(client, tenant).post("/Users", {"schemas": [USER_SCHEMA], "userName": "ann@example.com"})
    assert response.headers["Location"] == response.get_json()["meta"]["location"]
    assert response.headers["Location"].startswith("https://gw.example.com/tenants/acme/scim/v2/Users/")
    database.close()


def test_patch_response_matches_advertised_schema(any_scim):
    """PATCH answers 200 with the resource, in the advertised shape."""
    user = any_scim.create_user("ann@example.com", name={"givenName": "Ann"})
    response = any_scim.request("PATCH", f"/Users/{user['id']}", {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "Replace", "value": {"name.familyName": "Lee", "active": "False"}}],
    })
    assert response.status_code == 200
    resource = response.get_json()
    assert resource["name"] == {"givenName": "Ann", "familyName": "Lee"}
    assert resource["active"] is False
    _nothing_unadvertised(resource, _schema(any_scim, USER_SCHEMA)["attributes"])
