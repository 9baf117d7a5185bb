"""The OpenAPI document integrators read, and ``/docs`` working with no internet."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

BASES = ("/tenants/{tenant}/scim/v2", "/scim/v2")
SCIM_OPERATIONS = {
    "/Users": {"get", "post"},
    "/Users/{resource_id}": {"get", "put", "patch", "delete"},
    "/Groups": {"get", "post"},
    "/Groups/{resource_id}": {"get", "put", "patch", "delete"},
    "/ServiceProviderConfig": {"get"},
    "/ResourceTypes": {"get"},
    "/ResourceTypes/{name}": {"get"},
    "/Schemas": {"get"},
    "/Schemas/{schema_id}": {"get"},
}
# Endpoints whose bodies are messages, not resources (SearchRequest, BulkRequest) or errors.
MESSAGE_OPERATIONS = {
    "/Users/.search": {"post"},
    "/Groups/.search": {"post"},
    "/.search": {"post"},
    "/Bulk": {"post"},
    "/Me": {"get"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _resolve(spec: dict, node: dict) -> dict:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target = spec
        for part in ref[2:].split("/"):
            assert part in target, f"dangling $ref {ref}"
            target = target[part]
        node = target
        seen += 1
        assert seen < 20
    return node


def _schema_of(spec: dict, content: dict) -> dict:
    assert content, "no content"
    media = next(iter(content.values()))
    return _resolve(spec, media["schema"])


def _path_parameters(spec: dict, path_item: dict, operation: dict) -> set[str]:
    params = [*path_item.get("parameters", []), *operation.get("parameters", [])]
    return {p["name"] for p in (_resolve(spec, p) for p in params) if p["in"] == "path"}


def test_openapi_3_document(spec):
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["components"]["securitySchemes"]
    scheme = next(iter(spec["components"]["securitySchemes"].values()))
    assert scheme["type"] == "http" and scheme["scheme"].lower() == "bearer"


@pytest.mark.parametrize("base", BASES)
def test_every_scim_path_and_method_under_both_bases(spec, base):
    for suffix, methods in SCIM_OPERATIONS.items():
        path = base + suffix
        assert path in spec["paths"], f"{path} missing; have {sorted(spec['paths'])}"
        documented = set(spec["paths"][path]) & HTTP_METHODS
        assert documented == methods, (path, documented)


@pytest.mark.parametrize("base", BASES)
def test_search_bulk_and_me_are_documented(spec, base):
    for suffix, methods in MESSAGE_OPERATIONS.items():
        path = base + suffix
        assert path in spec["paths"], f"{path} missing"
        assert set(spec["paths"][path]) & HTTP_METHODS == methods, path
        for method in methods:
            responses = spec["paths"][path][method]["responses"]
            assert {"401", "403"} <= set(responses), (path, list(responses))
            if method == "post":
                assert spec["paths"][path][method].get("requestBody"), path
                assert {"200", "400"} <= set(responses), (path, list(responses))


@pytest.mark.parametrize("base", BASES)
def test_request_body_schemas_for_writes(spec, base):
    for suffix, methods in SCIM_OPERATIONS.items():
        for method in methods & {"post", "put", "patch"}:
            operation = spec["paths"][base + suffix][method]
            body = operation.get("requestBody")
            assert body, f"{method.upper()} {base}{suffix} has no requestBody"
            body = _resolve(spec, body)
            assert body.get("required") is True
            assert "application/scim+json" in body["content"]
            schema = _schema_of(spec, body["content"])
            assert schema.get("properties"), (method, suffix)
            if method == "patch":
                assert {"schemas", "Operations"} <= set(schema["properties"])
            elif suffix.startswith("/Users"):
                assert "userName" in schema["properties"]
                assert "userName" in schema.get("required", [])
            else:
                assert {"displayName", "members"} <= set(schema["properties"])


@pytest.mark.parametrize("base", BASES)
def test_response_schemas_including_errors(spec, base):
    for suffix, methods in SCIM_OPERATIONS.items():
        path_item = spec["paths"][base + suffix]
        for method in methods:
            operation = path_item[method]
            responses = operation["responses"]
            success = {"post": "201", "delete": "204"}.get(method, "200")
            assert success in responses, (method, suffix, list(responses))
            if success != "204":
                schema = _schema_of(spec, _resolve(spec, responses[success])["content"])
                assert schema.get("properties"), (method, suffix)
            # Documented errors: every SCIM operation can fail authentication.
            for code in ("401", "403"):
                assert code in responses, (method, suffix, code)
            if "{" in suffix.split("/")[-1]:
                assert "404" in responses, (method, suffix)
            if method in ("post", "put", "patch"):
                assert "400" in responses, (method, suffix)
            if suffix.startswith("/Users") or suffix.startswith("/Groups"):
                if method in ("post", "put"):
                    assert "409" in responses, (method, suffix)
            if method == "get" and suffix in ("/Users", "/Groups"):
                assert "400" in responses  # invalidFilter
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    error = _schema_of(spec, _resolve(spec, response)["content"])
                    assert {"schemas", "status", "detail"} <= set(error["properties"]), (code, suffix)
                    assert error["properties"]["status"]["type"] == "string"


def test_scim_views_run_without_documentation_layers(app, spec):
    """gateway.scim.blueprint: doc/alt_response record the docs on the view itself, so the
    view Flask calls is the method as written; the document still has what they say."""
    users = app.view_functions["scim-tenant.users"].view_class
    for method in (users.get, users.post):
        assert not hasattr(method, "__wrapped__"), method
        assert method.__qualname__.endswith(("Collection.get", "Collection.post"))
    operation = spec["paths"]["/tenants/{tenant}/scim/v2/Users"]["post"]
    assert operation["summary"] == "Create a User"
    assert {"201", "400", "401", "403", "409", "413", "415"} <= set(operation["responses"])


@pytest.mark.parametrize("base", BASES)
def test_parameters_are_declared(spec, base):
    for suffix, methods in SCIM_OPERATIONS.items():
        path = base + suffix
        path_item = spec["paths"][path]
        placeholders = set(re.findall(r"{([^}]+)}", path))
        for method in methods:
            operation = path_item[method]
            assert _path_parameters(spec, path_item, operation) == placeholders, (method, path)
            assert operation.get("summary"), (method, path)
    listing = spec["paths"][base + "/Users"]["get"]
    query = {p["name"] for p in (_resolve(spec, p) for p in listing.get("parameters", [])) if p["in"] == "query"}
    assert {"filter", "startIndex", "count", "attributes", "excludedAttributes"} <= query


def test_ops_endpoints_are_documented(spec):
    for path in ("/healthz", "/readyz"):
        assert path in spec["paths"], path
        operation = spec["paths"][path]["get"]
        assert "200" in operation["responses"]
        # Health checks need no token.
        assert operation.get("security") == []
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]


def test_every_ref_resolves(spec):
    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                _resolve(spec, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)


def test_spec_validates_against_the_openapi_schema(spec):
    import openapi_spec_validator as validator
    validator.validate(spec)


# --- /docs ---------------------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.other: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self._in_script = True
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if "stylesheet" in rel:
                self.styles.append(attrs["href"])
            else:
                self.other.append(attrs["href"])
        elif tag in ("img", "iframe") and attrs.get("src"):
            self.other.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline.append(data)


def _is_remote(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc) and parts.netloc not in ("", "localhost")


def test_docs_use_only_local_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    parser = _Assets()
    parser.feed(response.get_data(as_text=True))
    assert parser.scripts, "no script: nothing would render the document"
    assert parser.styles, "no stylesheet"
    for url in parser.scripts + parser.styles + parser.other:
        assert not _is_remote(url), f"/docs loads {url} from the internet"
        assert not url.startswith("//"), url
    # Inline scripts point the UI at the local document, not at a remote one.
    inline = "\n".join(parser.inline)
    assert not re.search(r"https?://", inline), inline
    assert "/openapi.json" in inline


def test_docs_do_not_call_the_online_validator(client):
    """Swagger UI defaults ``validatorUrl`` to https://validator.swagger.io: on any host other
    than localhost the page would send the spec URL there. The gateway must switch it off."""
    parser = _Assets()
    parser.feed(client.get("/docs").get_data(as_text=True))
    inline = "\n".join(parser.inline)
    assert re.search(r"""["']?validatorUrl["']?\s*:\s*(null|["']none["'])""", inline), inline


def test_docs_assets_are_served(client):
    parser = _Assets()
    parser.feed(client.get("/docs").get_data(as_text=True))
    for url, kinds in [(u, ("javascript", "ecmascript")) for u in parser.scripts] + \
                      [(u, ("text/css",)) for u in parser.styles]:
        asset = client.get(urljoin("http://localhost/docs", url))
        assert asset.status_code == 200, url
        assert any(kind in asset.mimetype for kind in kinds), (url, asset.mimetype)
        assert len(asset.get_data()) > 1000, url
        asset.close()


def test_docs_and_spec_need_no_token(client):
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
