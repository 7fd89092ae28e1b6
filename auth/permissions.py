"""Permission classes that print as directives in the schema.

`@isAuthenticated`, `@hasRole(role: SELLER)` and `@memberRole(atLeast: ADMIN)` are checked before
a field resolves. Ownership (this product is the viewer's company's) is checked in resolvers.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from domain.identity import CompanyRole, MemberRole

Role = strawberry.enum(
    CompanyRole,
    name="Role",
    description="What a company is on the marketplace (or the platform operator itself).",
)
MemberRoleEnum = strawberry.enum(
    MemberRole, name="MemberRole", description="What a user is inside their company."
)


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="isAuthenticated",
    description="Requires a signed-in user (a bearer access token).",
)
class IsAuthenticatedDirective:
    pass


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="hasRole",
    description="Requires the viewer's company to have this role.",
)
class HasRoleDirective:
    role: CompanyRole


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="memberRole",
    description="Requires the viewer to hold at least this role inside their company.",
)
class MemberRoleDirective:
    at_least: MemberRole


def _viewer(info: Info) -> Any:
    return info.context.viewer


class IsAuthenticated(BasePermission):
    message = "Sign in first: this field needs a bearer access token."
    error_extensions = {"code": "UNAUTHENTICATED"}
    _schema_directive = IsAuthenticatedDirective()

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(_viewer(info).is_authenticated)


class HasRole(BasePermission):
    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, role: CompanyRole) -> None:
        self.role = role
        self.message = f"Only {role.value.lower().replace('_', ' ')} companies may do this."
        self._schema_directive = HasRoleDirective(role=role)  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        # Paired with IsAuthenticated (listed first), which answers anonymous viewers.
        return bool(_viewer(info).has_role(self.role))


class HasMemberRole(BasePermission):
    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, at_least: MemberRole) -> None:
        self.at_least = at_least
        self.message = f"Needs the {at_least.value.lower()} role (or higher) in your company."
        self._schema_directive = MemberRoleDirective(at_least=at_least)  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(_viewer(info).member_role_at_least(self.at_least))


def requires(*permissions: BasePermission) -> list[FieldExtension]:
    """Field extensions for these permissions, printed as directives in the SDL."""
    return [PermissionExtension(permissions=list(permissions), use_directives=True)]


def authenticated() -> list[FieldExtension]:
    return requires(IsAuthenticated())


def seller() -> list[FieldExtension]:
    return requires(IsAuthenticated(), HasRole(CompanyRole.SELLER))


def buyer() -> list[FieldExtension]:
    return requires(IsAuthenticated(), HasRole(CompanyRole.BUYER))


def company_admin() -> list[FieldExtension]:
    return requires(IsAuthenticated(), HasMemberRole(MemberRole.ADMIN))


def platform_admin() -> list[FieldExtension]:
    """The marketplace operator's own staff (a company with the PLATFORM_ADMIN role)."""
    return requires(IsAuthenticated(), HasRole(CompanyRole.PLATFORM_ADMIN))
