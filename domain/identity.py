"""What a company is on the marketplace, and what a user is inside a company."""

from __future__ import annotations

import enum


class CompanyRole(enum.StrEnum):
    PLATFORM_ADMIN = "PLATFORM_ADMIN"
    SELLER = "SELLER"
    BUYER = "BUYER"


class MemberRole(enum.StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: MemberRole) -> bool:
        return self.rank >= other.rank


_RANKS = {MemberRole.MEMBER: 0, MemberRole.ADMIN: 1, MemberRole.OWNER: 2}


def company_roles(*, is_seller: bool, is_buyer: bool, is_platform: bool) -> frozenset[CompanyRole]:
    roles = set()
    if is_seller:
        roles.add(CompanyRole.SELLER)
    if is_buyer:
        roles.add(CompanyRole.BUYER)
    if is_platform:
        roles.add(CompanyRole.PLATFORM_ADMIN)
    return frozenset(roles)
