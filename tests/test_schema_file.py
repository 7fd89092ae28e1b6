"""schema.graphql is the printed schema: it must not drift from the code."""

from pathlib import Path

from server import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_matches_the_code(settings):
    printed = build_schema(settings).as_str() + "\n"
    assert SCHEMA_FILE.read_text() == printed, (
        "schema.graphql is stale: run `python server.py print-schema --output schema.graphql`"
    )


def test_permission_directives_are_printed():
    sdl = SCHEMA_FILE.read_text()
    assert "directive @isAuthenticated on FIELD_DEFINITION" in sdl
    assert "directive @hasRole(role: Role!) on FIELD_DEFINITION" in sdl
    assert "directive @memberRole(atLeast: MemberRole!) on FIELD_DEFINITION" in sdl
    assert "createProduct(input: CreateProductInput!): ProductPayload! @isAuthenticated " in sdl
    assert "@isAuthenticated @memberRole(atLeast: ADMIN)" in sdl
