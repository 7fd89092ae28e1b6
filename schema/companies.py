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
    name: str
    country: CountryCode
    default_currency: CurrencyCode = strawberry.field(
        description="The currency the company prices and pays in unless it asks for another."
    )
    is_seller: bool
    is_buyer: bool
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
    email: str
    name: str
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
    user: User | None
    user_errors: list[UserError]


@strawberry.type(description="The result of signing out.")
class LogoutPayload:
    success: bool = strawberry.field(description="True when the session was ended.")
    user_errors: list[UserError]


@strawberry.input(description="A new user and the company they open an account for.")
class RegisterInput:
    email: str
    password: str = strawberry.field(description="At least 10 characters.")
    name: str
    company_name: str
    country: CountryCode
    default_currency: CurrencyCode
    is_seller: bool
    is_buyer: bool


@strawberry.input(description="Changes to your company's profile; what is left out stays.")
class UpdateCompanyInput:
    name: str | None = None
    default_currency: CurrencyCode | None = None


@strawberry.type(description="The result of changing a company's profile.")
class CompanyPayload:
    company: Company | None
    user_errors: list[UserError]
