import uuid

from sqlalchemy import insert, select

from auth.passwords import hash_password
from db.models import Company, Membership, User
from domain.identity import MemberRole
from resolvers.global_ids import key_of
from tests.support import PASSWORD, gql, register

UPDATE = """
mutation Update($input: UpdateCompanyInput!) {
  updateCompany(input: $input) {
    company { id name defaultCurrency }
    userErrors { field message code }
  }
}
"""

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken userErrors { code } }
}
"""


async def company_name(services, company_global_id):
    async with services.sessions() as session:
        return await session.scalar(
            select(Company.name).where(Company.id == key_of(company_global_id, "Company"))
        )


async def add_member(client, services, company_global_id, role):
    email = f"member-{uuid.uuid4().hex[:10]}@example.com"
    user_id = uuid.uuid4()
    async with services.sessions() as session, session.begin():
        await session.execute(
            insert(User).values(
                id=user_id, email=email, name="Member", password_hash=await hash_password(PASSWORD)
            )
        )
        await session.execute(
            insert(Membership).values(
                user_id=user_id, company_id=key_of(company_global_id, "Company"), role=role
            )
        )
    body = await gql(client, LOGIN, {"email": email, "password": PASSWORD})
    return body["data"]["login"]["accessToken"]


async def test_an_owner_renames_the_company_and_changes_its_currency(client, services):
    owner = await register(client, buyer=True)
    body = await gql(
        client,
        UPDATE,
        {"input": {"name": "  Renamed GmbH ", "defaultCurrency": "CHF"}},
        owner.token,
    )
    payload = body["data"]["updateCompany"]
    assert payload["userErrors"] == []
    assert payload["company"] == {
        "id": owner.company_id,
        "name": "Renamed GmbH",
        "defaultCurrency": "CHF",
    }
    assert await company_name(services, owner.company_id) == "Renamed GmbH"


async def test_an_admin_may_and_a_plain_member_may_not(client, services):
    owner = await register(client, seller=True)
    admin_token = await add_member(client, services, owner.company_id, MemberRole.ADMIN)
    member_token = await add_member(client, services, owner.company_id, MemberRole.MEMBER)
    body = await gql(client, UPDATE, {"input": {"name": "By admin"}}, admin_token)
    assert body["data"]["updateCompany"]["userErrors"] == []
    body = await gql(
        client, UPDATE, {"input": {"name": "By member"}}, member_token, expect_errors=True
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await company_name(services, owner.company_id) == "By admin"


async def test_anonymous_is_refused(client):
    body = await gql(client, UPDATE, {"input": {"name": "X"}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_blank_name_changes_nothing(client, services):
    owner = await register(client, buyer=True)
    before = await company_name(services, owner.company_id)
    body = await gql(
        client, UPDATE, {"input": {"name": "   ", "defaultCurrency": "USD"}}, owner.token
    )
    payload = body["data"]["updateCompany"]
    assert payload["company"] is None
    assert payload["userErrors"] == [
        {"field": ["input", "name"], "message": "must not be blank", "code": "INVALID"}
    ]
    assert await company_name(services, owner.company_id) == before


async def test_an_unknown_currency_is_refused_before_execution(client):
    owner = await register(client, buyer=True)
    body = await gql(
        client, UPDATE, {"input": {"defaultCurrency": "ZZZ"}}, owner.token, expect_errors=True
    )
    assert "data" not in body or body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
