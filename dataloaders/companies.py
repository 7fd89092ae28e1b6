"""Companies, users and memberships."""

from __future__ import annotations

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders.batching import one_per_key
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


def company_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, select(*COMPANY_COLUMNS), Company.id)


def user_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, select(*USER_COLUMNS), User.id)


def membership_by_user_id(engine: AsyncEngine) -> DataLoader:
    statement = select(Membership.user_id, Membership.company_id, Membership.role)
    return one_per_key(engine, statement, Membership.user_id)
