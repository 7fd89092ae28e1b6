"""Who is asking: the user and company behind a request, or nobody."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from domain.identity import CompanyRole, MemberRole


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    member_role: MemberRole | None = None
    roles: frozenset[CompanyRole] = field(default_factory=frozenset)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def has_role(self, role: CompanyRole) -> bool:
        return role in self.roles

    def member_role_at_least(self, role: MemberRole) -> bool:
        return self.member_role is not None and self.member_role.at_least(role)

    @property
    def cache_key(self) -> str:
        """Identifies the viewer for throttling buckets and logs."""
        return f"user:{self.user_id}" if self.user_id else "anonymous"


ANONYMOUS = Viewer()
