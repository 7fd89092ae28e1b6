"""Companies, users and memberships."""

from __future__ import annotations

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders.batching import CompiledRead, any_of_keys, one_per_key
from db.models import Company, Membership, User

COMPANY_COLUMNS = (
    Company.id,
    Company.name,
    Company.country,
    Company.default_currency,
    Company.is_seller,
    Company.is_buyer,
    Company.is_platform,
    Company.created_at,
)
USER_COLUMNS = (User.id, User.email, User.name, User.is_active, User.created_at)

COMPANY_BY_ID = CompiledRead(select(*COMPANY_COLUMNS).where(any_of_keys(Company.id)))
USER_BY_ID = CompiledRead(select(*USER_COLUMNS).where(any_of_keys(User.id)))
MEMBERSHIP_BY_USER_ID = CompiledRead(
    select(Membership.user_id, Membership.company_id, Membership.role).where(
        any_of_keys(Membership.user_id)
    )
)


def company_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, COMPANY_BY_ID, "id")


def user_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, USER_BY_ID, "id")


def membership_by_user_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, MEMBERSHIP_BY_USER_ID, "user_id")
