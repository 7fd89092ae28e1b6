"""Companies and users, and the identity mutations' payloads."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.engine import Row

from auth.permissions import MemberRoleEnum
from domain.identity import MemberRole
from resolvers.global_ids import to_global_id
from schema.common import CountryCode, CurrencyCode, Node, UserError


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
