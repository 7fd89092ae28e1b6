"""Companies, their users and memberships, and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    LargeBinary,
    String,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import COUNTRY_CHECK, CURRENCY_CHECK, Base, created_at_column, uuid_pk
from domain.identity import MemberRole


class Company(Base):
    __tablename__ = "companies"
    __table_args__ = (
        CheckConstraint(f"country {COUNTRY_CHECK}", name="country_iso"),
        CheckConstraint(f"default_currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("is_seller OR is_buyer OR is_platform", name="has_a_role"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    default_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    is_seller: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_buyer: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The marketplace operator itself (role PLATFORM_ADMIN).
    is_platform: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at_column()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("position('@' in email) > 1", name="email_has_at"),
        # Emails are stored lower-cased, so this is a case-insensitive uniqueness.
        CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = created_at_column()


class Membership(Base):
    """A user's place in a company. One company per user for now (unique user_id)."""

    __tablename__ = "memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    company_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[MemberRole] = mapped_column(
        Enum(MemberRole, name="member_role"), nullable=False, default=MemberRole.MEMBER
    )
    created_at: Mapped[datetime] = created_at_column()


class RefreshToken(Base):
    """An opaque refresh token, stored as a SHA-256 hash.

    Tokens of one login form a family; using a token rotates it (used_at is set and a new one
    issued). Presenting a token that was already used revokes the whole family: someone else
    holds a copy.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
