from tests.support import gql, register


async def test_me_is_null_when_anonymous(client):
    body = await gql(client, "{ me { id } }")
    assert body["data"]["me"] is None


async def test_register_then_me(client):
    account = await register(client, seller=True)
    body = await gql(
        client, "{ me { email company { id isSeller isBuyer } memberRole } }", token=account.token
    )
    me = body["data"]["me"]
    assert me["email"] == account.email
    assert me["company"]["isSeller"] is True
    assert me["memberRole"] == "OWNER"
