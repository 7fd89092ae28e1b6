"""Company profile changes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from db.models import Company
from domain.money import is_currency
from domain.problems import Problem
from domain.text import MAX_NAME_LENGTH
from resolvers.context import Context
from resolvers.outcome import Outcome
from resolvers.transactions import WriteTransaction, write_outcome


@dataclass(frozen=True, slots=True)
class CompanyChanges:
    name: str | None
    default_currency: str | None


async def update_company(ctx: Context, changes: CompanyChanges) -> Outcome:
    """Admins and owners change their own company (the permission directive checks the role)."""
    company_id = ctx.viewer.company_id
    assert company_id is not None
    problems = []
    values: dict[str, str] = {}
    if changes.name is not None:
        if not changes.name.strip():
            problems.append(Problem(("input", "name"), "must not be blank"))
        elif len(changes.name) > MAX_NAME_LENGTH:
            problems.append(
                Problem(("input", "name"), f"must be at most {MAX_NAME_LENGTH} characters")
            )
        values["name"] = changes.name.strip()
    if changes.default_currency is not None:
        if not is_currency(changes.default_currency):
            problems.append(Problem(("input", "defaultCurrency"), "is not a supported currency"))
        values["default_currency"] = changes.default_currency
    if problems:
        return Outcome(problems=problems)
    if not values:
        return Outcome(key=company_id)

    async def write(tx: WriteTransaction) -> Outcome:
        await tx.session.execute(update(Company).where(Company.id == company_id).values(**values))
        tx.changed(catalog=True)  # a seller's name and country show on its products
        return Outcome(key=company_id)

    return await write_outcome(ctx, write)
