"""Mainstream JavaScript clients, unmodified, against the real gateway (issue 10): each test is
one thing a client was seen to need. The Node scripts in js/ report what the client sent and
got; the assertions are here."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from db.seed import DEMO_PASSWORD
from settings import Settings
from tests.clients.conftest import gateway_settings, run_node, run_tool
from tests.clients.readme_operations import README, readme_operations
from tests.live_server import LiveServer, serve_gateway

SELLER = "seller@acme-industrial.example"
BUYER = "buyer@northwind-procurement.example"
SCHEMA = README.parent / "schema.graphql"


@pytest.fixture(scope="module")
def apollo(js_packages: Any, gateway: LiveServer, throttled_gateway: LiveServer) -> dict[str, Any]:
    return run_node(
        "apollo.mjs",
        {
            "url": gateway.url,
            "throttledUrl": throttled_gateway.url,
            "email": SELLER,
            "password": DEMO_PASSWORD,
        },
    )


def test_apollo_sends_client_awareness_headers(apollo):
    step = apollo["awareness"]
    assert step["ok"], step
    assert step["clientName"] == "clients-test-web"
    assert step["clientVersion"] == "4.0.0-test"
    assert step["status"] == 200
    assert step["categories"] > 0


def test_apollo_persisted_queries_register_then_run_by_hash(apollo):
    step = apollo["apq"]
    assert step["ok"], step
    first, second = step["calls"]
    # Hash only, refused as unknown; then hash and document, answered.
    unknown, registered = first["requests"]
    assert unknown["document"] is None
    assert unknown["codes"] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert registered["document"] is not None
    assert registered["codes"] == []
    digest = hashlib.sha256(registered["document"].encode()).hexdigest()
    assert unknown["sentHash"] == registered["sentHash"] == digest
    # Next time the hash alone is enough.
    assert second["requests"] == [
        {"document": None, "sentHash": digest, "status": 200, "codes": []}
    ]
    assert first["categories"] == second["categories"] > 0


def test_apollo_currency_as_a_literal_and_as_a_variable(apollo):
    for name in ("currencyLiteral", "currencyVariable"):
        step = apollo[name]
        assert step["ok"], (name, step)
        assert step["currencies"], name
        assert set(step["currencies"]) == {"EUR"}, name


def test_apollo_signs_in_and_uses_the_token(apollo):
    step = apollo["login"]
    assert step["ok"], step
    assert step["userErrors"] == []
    assert step["email"] == SELLER


def test_apollo_sees_unauthenticated_for_a_bad_token(apollo):
    """Not a bare ServerError with the code hidden in its body text: a 401 under the GraphQL
    response media type, which Apollo 4 reads as GraphQL errors with their codes."""
    step = apollo["badToken"]
    assert step["ok"], step
    assert step["status"] == 401
    assert step["contentType"].startswith("application/graphql-response+json")
    assert step["error"]["name"] == "CombinedGraphQLErrors", step["error"]
    assert step["error"]["codes"] == ["UNAUTHENTICATED"]


def test_apollo_mutation_over_get_is_405_with_allow_post(apollo):
    step = apollo["mutationOverGet"]
    assert step["ok"], step
    assert step["method"] == "GET"
    assert step["status"] == 405
    assert step["allow"] == "POST"
    assert step["error"]["codes"], step["error"]  # a GraphQL error the client can read


def test_apollo_reads_throttled_and_retry_after(apollo):
    step = apollo["throttled"]
    assert step["ok"], step
    assert step["answered"] >= 1  # the bucket paid for some pages first
    assert step["status"] == 429
    assert step["error"]["name"] == "CombinedGraphQLErrors", step["error"]
    assert step["error"]["codes"] == ["THROTTLED"]
    assert step["retryAfter"] is not None
    assert int(step["retryAfter"]) > 0


@pytest.fixture(scope="module")
def urql(js_packages: Any, gateway: LiveServer) -> dict[str, Any]:
    return run_node("urql.mjs", {"url": gateway.url, "email": BUYER, "password": DEMO_PASSWORD})


def test_urql_graphcache_updates_the_cart_from_a_mutation(urql):
    assert urql["login"] == {"ok": True, "userErrors": [], "signedIn": True}
    step = urql["cart"]
    assert step["ok"], step
    assert step["userErrors"] == []
    assert step["sameCart"]
    assert step["quantityBefore"] == step["quantity"]
    # The mutation's answer updated the normalized Cart: read back with no request.
    assert step["quantityFromCache"] == 2 * step["quantity"]
    assert step["cacheError"] is None
    assert step["requestsForCacheRead"] == 0


@pytest.fixture(scope="module")
def graphql_request(js_packages: Any, gateway: LiveServer) -> dict[str, Any]:
    return run_node("graphql_request.mjs", {"url": gateway.url})


def test_graphql_request_query_with_variables(graphql_request):
    step = graphql_request["variables"]
    assert step["ok"], step
    assert step["currencies"]
    assert set(step["currencies"]) == {"JPY"}


def test_graphql_request_surfaces_unauthenticated(graphql_request):
    step = graphql_request["badToken"]
    assert step["ok"], step
    assert step["error"]["codes"] == ["UNAUTHENTICATED"], step["error"]
    assert step["status"] == 401
    assert step["contentType"].startswith("application/graphql-response+json")


def test_graphql_request_surfaces_a_bad_variable_as_400(graphql_request):
    step = graphql_request["badVariable"]
    assert step["ok"], step
    assert step["error"]["codes"] == ["BAD_USER_INPUT"], step["error"]
    assert step["status"] == 400
    assert step["contentType"].startswith("application/graphql-response+json")


# --- GraphQL Code Generator's client preset, persisted documents on a trusted-only server ----


@dataclass
class Generated:
    run: subprocess.CompletedProcess[str]
    folder: Path

    @property
    def manifest(self) -> dict[str, str]:
        loaded: dict[str, str] = json.loads((self.folder / "persisted-documents.json").read_text())
        return loaded

    def ids(self) -> dict[str, str]:
        """Operation name -> the id Code Generator emitted for it."""
        found = {}
        for key, document in self.manifest.items():
            name = re.match(r"\s*(?:query|mutation|subscription)\s+(\w+)", document)
            assert name, document
            found[name.group(1)] = key
        return found


@pytest.fixture(scope="module")
def codegen(js_packages: Path, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """The client preset with `persistedDocuments` (sha256) over the README's operations and
    js/documents/, against the committed schema.graphql."""
    work = tmp_path_factory.mktemp("codegen")
    (work / "readme.graphql").write_text("\n\n".join(readme_operations().values()))
    config = {
        "schema": str(SCHEMA),
        "documents": [str(work / "readme.graphql"), str(js_packages / "documents" / "*.graphql")],
        "silent": True,
        "generates": {
            f"{work}/gql/": {
                "preset": "client",
                "presetConfig": {"persistedDocuments": {"hashAlgorithm": "sha256"}},
            }
        },
    }
    (work / "codegen.json").write_text(json.dumps(config))
    run = run_tool(["graphql-codegen", "--config", str(work / "codegen.json")], cwd=js_packages)
    return Generated(run, work / "gql")


def test_codegen_emits_sha256_document_ids(codegen):
    assert codegen.run.returncode == 0, codegen.run.stdout + codegen.run.stderr
    manifest = codegen.manifest
    operations = {**readme_operations(), "ClientsQuoteUpdatedSubscription": ""}
    assert set(codegen.ids()) >= set(operations)
    for key, document in manifest.items():
        assert key == "sha256:" + hashlib.sha256(document.encode()).hexdigest()
    # The documents the app ships carry the same ids (`__meta__.hash`).
    source = (codegen.folder / "graphql.ts").read_text()
    hashes = re.findall(r'"__meta__":\{"hash":"([^"]+)"\}', source)
    assert sorted(hashes) == sorted(manifest)


def test_codegen_types_currency_and_country_codes(codegen):
    """Enums, as Code Generator types them (`unknown` for a custom scalar)."""
    assert codegen.run.returncode == 0, codegen.run.stdout + codegen.run.stderr
    source = (codegen.folder / "graphql.ts").read_text()
    for name in ("CurrencyCode", "CountryCode"):
        assert re.search(rf"export (type|enum) {name}\b", source), name
    assert "currency: unknown" not in source


@pytest.fixture(scope="module")
def trusted_gateway(
    settings: Settings, demo_database_url: str, codegen: Generated
) -> Iterator[LiveServer]:
    assert codegen.run.returncode == 0, codegen.run.stdout + codegen.run.stderr
    trusted_only = gateway_settings(
        settings,
        demo_database_url,
        trusted_documents_file=codegen.folder / "persisted-documents.json",
        trusted_documents_only=True,
    )
    with serve_gateway(trusted_only) as server:
        yield server


@pytest.fixture(scope="module")
def persisted(js_packages: Path, trusted_gateway: LiveServer, codegen: Generated) -> dict[str, Any]:
    return run_node(
        "persisted.mjs",
        {
            "url": trusted_gateway.url,
            "ids": codegen.ids(),
            "buyerEmail": BUYER,
            "password": DEMO_PASSWORD,
        },
    )


def test_trusted_only_server_refuses_unregistered_text(persisted):
    step = persisted["unregisteredText"]
    assert step["ok"], step
    assert step["codes"] == ["PERSISTED_QUERY_ID_REQUIRED"]
    assert step["data"] is None


@pytest.mark.parametrize("how", ["catalogPost", "catalogGet"])
def test_codegen_document_runs_by_its_id(persisted, how):
    step = persisted[how]
    assert step["ok"], step
    assert step["status"] == 200, step
    assert step["codes"] == [], step
    assert step["data"]["products"]["totalCount"] > 0
    assert step["data"]["categories"]


def test_codegen_mutations_run_by_their_ids(persisted):
    assert persisted["sellerLogin"]["ok"], persisted["sellerLogin"]
    assert persisted["sellerLogin"]["signedIn"], persisted["sellerLogin"]
    step = persisted["quoteRequested"]
    assert step["ok"], step
    assert step["userErrors"] == []


def test_codegen_subscription_runs_by_its_id_over_websocket(persisted):
    step = persisted["subscription"]
    assert step["ok"], step
    assert step["error"] is None
    assert step["kinds"] == ["REQUESTED"]


# --- relay-compiler ----------------------------------------------------------------------------


def test_relay_compiler_compiles_the_readme_queries(js_packages, tmp_path):
    """relay-compiler reads operations from graphql`` tags; each name starts with its module's."""
    source = tmp_path / "src"
    source.mkdir()
    (tmp_path / "__generated__").mkdir()
    shutil.copy(SCHEMA, tmp_path / "schema.graphql")
    operations = readme_operations("Readme")
    tagged = "\n".join(f"graphql`\n{document}\n`;\n" for document in operations.values())
    (source / "Readme.js").write_text(f'import {{ graphql }} from "react-relay";\n\n{tagged}')
    (tmp_path / "relay.config.json").write_text(
        json.dumps(
            {
                "src": "./src",
                "schema": "./schema.graphql",
                "language": "javascript",
                "artifactDirectory": "./__generated__",
            }
        )
    )
    run = run_tool(["relay-compiler"], cwd=tmp_path)
    report = run.stdout + run.stderr
    assert "ERROR" not in report, report
    artifacts = {path.name for path in (tmp_path / "__generated__").iterdir()}
    assert artifacts == {f"{name}.graphql.js" for name in operations}, report


# --- graphql-http's audit ------------------------------------------------------------------------


def test_graphql_over_http_audit_passes_every_must_and_should(js_packages, gateway):
    audit = run_node("audit.mjs", {"url": gateway.url})
    print(f"graphql-http audit: {audit['total']} checks, {audit['counts']}")
    required = [check for check in audit["notPassed"] if check["name"].split()[0] != "MAY"]
    assert required == []
    passed = sum(audit["counts"][level]["ok"] for level in ("MUST", "SHOULD"))
    assert passed == 36  # all of them, in the pinned graphql-http
