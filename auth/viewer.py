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
    # When the access token behind this viewer expires (Unix time); a WebSocket outlives it.
    expires_at: float | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def has_role(self, role: CompanyRole) -> bool:
        return role in self.roles

    def member_role_at_least(self, role: MemberRole) -> bool:
        return self.member_role is not None and self.member_role.at_least(role)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


ANONYMOUS = Viewer()
