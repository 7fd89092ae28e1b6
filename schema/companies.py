"""Companies and users, and their root fields: `me`, sign-up, sign-in, tokens, the profile."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.types import Info

from auth.permissions import MemberRoleEnum, company_admin
from domain.identity import MemberRole
from resolvers import companies as company_resolvers
from resolvers import identity as identity_resolvers
from resolvers.context import Context
from resolvers.global_ids import to_global_id
from schema.common import CountryCode, CurrencyCode, Node, UserError, user_errors


@strawberry.type(description="A business on the marketplace: it buys, sells, or both.")
class Company(Node):
    name: str = strawberry.field(description="The company's display name (at most 200 characters).")
    country: CountryCode = strawberry.field(description="Where the company is registered.")
    default_currency: CurrencyCode = strawberry.field(
        description="The currency the company prices and pays in unless it asks for another."
    )
    is_seller: bool = strawberry.field(
        description="True when the company sells: it may list products, keep warehouses and set "
        "price lists."
    )
    is_buyer: bool = strawberry.field(
        description="True when the company buys: it has a cart and may check out."
    )
    rating: float | None = strawberry.field(
        description="Average seller rating from buyers' reviews; null until it has any."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> Company:
        return cls(
            id=strawberry.ID(to_global_id("Company", row.id)),
            name=row.name,
            country=row.country,
            default_currency=row.default_currency,
            is_seller=row.is_seller,
            is_buyer=row.is_buyer,
            # Reviews arrive with completed orders; until then no company has a rating.
            rating=None,
        )


@strawberry.type(description="A person who signs in and acts for their company.")
class User(Node):
    email: str = strawberry.field(description="The sign-in address, lower-cased.")
    name: str = strawberry.field(description="The person's full name, as they gave it.")
    company: Company | None = strawberry.field(description="The company this user acts for.")
    member_role: MemberRoleEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="What this user may do inside the company."
    )

    @classmethod
    def from_rows(cls, user: Row[Any], company: Row[Any] | None, role: MemberRole | None) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", user.id)),
            email=user.email,
            name=user.name,
            company=Company.from_row(company) if company else None,
            member_role=MemberRole(role) if role else None,
        )


@strawberry.type(description="The result of signing up, signing in or refreshing a session.")
class AuthPayload:
    access_token: str | None = strawberry.field(
        description="A short-lived JWT: send it as `Authorization: Bearer <token>`."
    )
    refresh_token: str | None = strawberry.field(
        description="Opaque and single-use: trade it for new tokens with `refreshToken`."
    )
    user: User | None = strawberry.field(
        description="The signed-in user; null when the call failed (see `userErrors`)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type(description="The result of signing out.")
class LogoutPayload:
    success: bool = strawberry.field(description="True when the session was ended.")
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.input(description="A new user and the company they open an account for.")
class RegisterInput:
    email: str = strawberry.field(
        description="The sign-in address (at most 254 characters); stored lower-cased. An address "
        "already registered is EMAIL_TAKEN."
    )
    password: str = strawberry.field(description="At least 10 characters.")
    name: str = strawberry.field(description="Your full name (1-200 characters).")
    company_name: str = strawberry.field(description="The new company's name (1-200 characters).")
    country: CountryCode = strawberry.field(description="Where the company is registered.")
    default_currency: CurrencyCode = strawberry.field(
        description="The currency the company prices and pays in by default."
    )
    is_seller: bool = strawberry.field(
        description="The company sells. At least one of isSeller and isBuyer must be true."
    )
    is_buyer: bool = strawberry.field(
        description="The company buys. At least one of isSeller and isBuyer must be true."
    )


@strawberry.input(description="Changes to your company's profile; what is left out stays.")
class UpdateCompanyInput:
    name: str | None = strawberry.field(
        default=None, description="The new name (1-200 characters); null or left out: unchanged."
    )
    default_currency: CurrencyCode | None = strawberry.field(
        default=None,
        description="The new default currency; null or left out: unchanged. Existing prices and "
        "orders keep their currency.",
    )


@strawberry.type(description="The result of changing a company's profile.")
class CompanyPayload:
    company: Company | None = strawberry.field(
        description="The company as it is now; null when the change was refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


# --- root fields: the viewer, sign-up and sign-in, the company's profile ----------------------


async def user_by_id(info: Info[Context, None], user_id: Any) -> User | None:
    loaders = info.context.loaders
    user = await loaders.user_by_id.load(user_id)
    if user is None:
        return None
    membership = await loaders.membership_by_user_id.load(user_id)
    company = await loaders.company_by_id.load(membership.company_id) if membership else None
    return User.from_rows(user, company, membership.role if membership else None)


async def company_node(info: Info[Context, None], key: Any) -> Company | None:
    row = await info.context.loaders.company_by_id.load(key)
    return Company.from_row(row) if row else None


async def user_node(info: Info[Context, None], key: Any) -> User | None:
    # A user is visible to themselves and to the members of their company only.
    membership = await info.context.loaders.membership_by_user_id.load(key)
    viewer = info.context.viewer
    if viewer.user_id != key and (membership is None or membership.company_id != viewer.company_id):
        return None
    return await user_by_id(info, key)


async def _auth_payload(
    info: Info[Context, None], session: identity_resolvers.Session
) -> AuthPayload:
    return AuthPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        user=await user_by_id(info, session.user_id) if session.user_id else None,
        user_errors=user_errors(session.problems),
    )


@strawberry.type
class CompanyQuery:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    async def me(self, info: Info[Context, None]) -> User | None:
        viewer = info.context.viewer
        return await user_by_id(info, viewer.user_id) if viewer.user_id else None


@strawberry.type
class CompanyMutation:
    @strawberry.mutation(
        description="Open an account: a new user, owner of a new company. Registrations from "
        "one address are limited per hour (THROTTLED)."
    )
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        data = identity_resolvers.Registration(
            email=input.email,
            password=input.password,
            name=input.name,
            company_name=input.company_name,
            country=input.country,
            default_currency=input.default_currency,
            is_seller=input.is_seller,
            is_buyer=input.is_buyer,
        )
        return await _auth_payload(info, await identity_resolvers.register(info.context, data))

    @strawberry.mutation(
        description="Sign in. Attempts are counted before any password check, per email and "
        "client address: past a few failures each attempt must wait a growing delay (a THROTTLED "
        "userError saying how long), never a lockout, and an address the account signed in "
        "from before is not slowed by attempts from elsewhere."
    )
    async def login(self, info: Info[Context, None], email: str, password: str) -> AuthPayload:
        return await _auth_payload(
            info, await identity_resolvers.login(info.context, email, password)
        )

    @strawberry.mutation(
        description="Trade a refresh token for new tokens. It rotates: the old one dies, and "
        "presenting it again signs out every session of that login."
    )
    async def refresh_token(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        return await _auth_payload(
            info, await identity_resolvers.refresh(info.context, refresh_token)
        )

    @strawberry.mutation(description="Sign out: the refresh token and its family stop working.")
    async def logout(self, info: Info[Context, None], refresh_token: str) -> LogoutPayload:
        problems = await identity_resolvers.logout(info.context, refresh_token)
        return LogoutPayload(success=not problems, user_errors=user_errors(problems))

    @strawberry.mutation(
        description="Rename your company or change its default currency (admins and owners).",
        extensions=company_admin(),
    )
    async def update_company(
        self, info: Info[Context, None], input: UpdateCompanyInput
    ) -> CompanyPayload:
        changes = company_resolvers.CompanyChanges(
            name=input.name, default_currency=input.default_currency
        )
        outcome = await company_resolvers.update_company(info.context, changes)
        company = None
        if outcome.key is not None:
            row = await info.context.loaders.company_by_id.load(outcome.key)
            company = Company.from_row(row) if row else None
        return CompanyPayload(company=company, user_errors=user_errors(outcome.problems))
