"""Sign-up, sign-in, token refresh and sign-out."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.passwords import hash_password, password_problem, verify_password
from auth.refresh_tokens import (
    RefreshTokenRejectedError,
    issue_refresh_token,
    revoke_refresh_token,
    rotate_refresh_token,
)
from auth.tokens import issue_access_token
from auth.viewer import Viewer
from db.models import Company, Membership, User
from domain.geography import is_country
from domain.identity import MemberRole, company_roles
from domain.money import is_currency
from domain.problems import Problem, ProblemCode
from domain.text import MAX_NAME_LENGTH
from resolvers.context import Context
from resolvers.transactions import Refused, WriteTransaction, write_transaction
from resolvers.warehouses import ensure_default_warehouse

# Deliberately loose: the real check is that mail arrives. One @, no spaces, a dot after it.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str
    name: str
    company_name: str
    country: str
    default_currency: str
    is_seller: bool
    is_buyer: bool


@dataclass(frozen=True, slots=True)
class Session:
    """Tokens handed to a client that signed in, or the problems that stopped it."""

    user_id: uuid.UUID | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    problems: list[Problem] = field(default_factory=list)


# Wrong password and unknown email read the same, so sign-in does not reveal who has an account.
WRONG_CREDENTIALS = Problem(
    ("password",), "wrong email or password", ProblemCode.INVALID_CREDENTIALS
)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _check_registration(data: Registration) -> list[Problem]:
    problems = []
    email = normalize_email(data.email)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        problems.append(Problem(("input", "email"), "is not a valid email address"))
    if (why := password_problem(data.password, email)) is not None:
        problems.append(Problem(("input", "password"), why))
    for name, value in (("name", data.name), ("companyName", data.company_name)):
        if not value.strip():
            problems.append(Problem(("input", name), "must not be blank"))
        elif len(value) > MAX_NAME_LENGTH:
            problems.append(
                Problem(("input", name), f"must be at most {MAX_NAME_LENGTH} characters")
            )
    if not is_country(data.country):
        problems.append(Problem(("input", "country"), "is not an ISO 3166-1 country code"))
    if not is_currency(data.default_currency):
        problems.append(Problem(("input", "defaultCurrency"), "is not a supported currency"))
    if not (data.is_seller or data.is_buyer):
        problems.append(
            Problem(("input", "isBuyer"), "a company buys, sells, or both: set one of them")
        )
    return problems


async def viewer_for_user(session: AsyncSession, user_id: uuid.UUID) -> Viewer | None:
    """The viewer a token for this user speaks for; None for an inactive or unknown user."""
    row = (
        await session.execute(
            select(
                Membership.company_id,
                Membership.role,
                Company.is_seller,
                Company.is_buyer,
                Company.is_platform,
            )
            .select_from(User)
            .outerjoin(Membership, Membership.user_id == User.id)
            .outerjoin(Company, Company.id == Membership.company_id)
            .where(User.id == user_id, User.is_active)
        )
    ).first()
    if row is None:
        return None
    company_id, role, is_seller, is_buyer, is_platform = row
    if company_id is None:
        return Viewer(user_id=user_id)
    return Viewer(
        user_id=user_id,
        company_id=company_id,
        member_role=role,
        roles=company_roles(
            is_seller=bool(is_seller), is_buyer=bool(is_buyer), is_platform=bool(is_platform)
        ),
    )


async def _signed_in(ctx: Context, user_id: uuid.UUID) -> Session:
    """A new session (tokens) for a user whose password was checked."""
    try:
        return await write_transaction(
            ctx, lambda tx: _start_session(ctx, tx.session, user_id), conflict_at=("email",)
        )
    except Refused as refused:
        return Session(problems=refused.problems)


async def _start_session(ctx: Context, session: AsyncSession, user_id: uuid.UUID) -> Session:
    viewer = await viewer_for_user(session, user_id)
    if viewer is None:  # deactivated between the password check and now
        return Session(problems=[WRONG_CREDENTIALS])
    refresh = await issue_refresh_token(session, user_id, ctx.settings.refresh_token_ttl_seconds)
    return Session(
        user_id=user_id,
        access_token=issue_access_token(ctx.services.tokens, viewer),
        refresh_token=refresh,
    )


def _client_address(ctx: Context) -> str:
    # The peer address; behind a proxy, uvicorn's --proxy-headers makes it the real client's.
    client = ctx.request.client if ctx.request is not None else None
    return client.host if client is not None else "unknown"


async def register(ctx: Context, data: Registration) -> Session:
    problems = _check_registration(data)
    if problems:
        return Session(problems=problems)
    # Counted per client before any work: each try costs an argon2 hash, and EMAIL_TAKEN tells
    # whether an email has an account, so neither may be had in bulk. Malformed input is
    # refused above, without the throttle, as it costs nothing and reveals nothing.
    wait = await ctx.services.registration_throttle.attempt(_client_address(ctx))
    if wait is not None:
        return Session(
            problems=[
                Problem(
                    ("input", "email"),
                    f"too many registrations from your address; try again in {wait} s",
                    ProblemCode.THROTTLED,
                    retry_after_seconds=wait,
                )
            ]
        )
    email = normalize_email(data.email)
    password_hash = await hash_password(data.password)
    user_id, company_id = uuid.uuid4(), uuid.uuid4()

    async def write(tx: WriteTransaction) -> Session:
        session = tx.session
        await session.execute(
            insert(Company).values(
                id=company_id,
                name=data.company_name.strip(),
                country=data.country,
                default_currency=data.default_currency,
                is_seller=data.is_seller,
                is_buyer=data.is_buyer,
                is_platform=False,
            )
        )
        await session.execute(
            insert(User).values(
                id=user_id, email=email, name=data.name.strip(), password_hash=password_hash
            )
        )
        await session.execute(
            insert(Membership).values(user_id=user_id, company_id=company_id, role=MemberRole.OWNER)
        )
        if data.is_seller:
            await ensure_default_warehouse(session, company_id, data.country)
        return await _start_session(ctx, session, user_id)

    try:
        return await write_transaction(ctx, write)
    except Refused as refused:
        return Session(problems=refused.problems)
    except IntegrityError as error:
        if "uq_users_email" in str(error.orig):
            return Session(
                problems=[
                    Problem(
                        ("input", "email"),
                        "an account with this email exists",
                        ProblemCode.EMAIL_TAKEN,
                    )
                ]
            )
        raise


async def login(ctx: Context, email: str, password: str) -> Session:
    email, address = normalize_email(email), _client_address(ctx)
    throttle = ctx.services.login_throttle
    # Every attempt is counted, atomically, before any password work: parallel guesses cannot
    # all slip in between a check and the recording of their failures.
    wait = await throttle.attempt(email, address)
    if wait is not None:
        return Session(
            problems=[
                Problem(
                    ("email",),
                    f"too many sign-in attempts; try again in {wait} s",
                    ProblemCode.THROTTLED,
                    retry_after_seconds=wait,
                )
            ]
        )
    # The connection goes back to the pool before argon2 runs (tens of ms, more when queued):
    # held through it, a burst of sign-ins would drain the pool for everyone.
    async with ctx.services.sessions() as session:
        row = (
            await session.execute(
                select(User.id, User.password_hash).where(User.email == email, User.is_active)
            )
        ).first()
    if not await verify_password(row.password_hash if row else None, password) or row is None:
        return Session(problems=[WRONG_CREDENTIALS])
    await throttle.succeeded(email, address)
    return await _signed_in(ctx, row.id)


async def refresh(ctx: Context, refresh_token: str) -> Session:
    rejected = Session(
        problems=[
            Problem(
                ("refreshToken",),
                "the refresh token is invalid, expired or already used; sign in again",
                ProblemCode.INVALID_CREDENTIALS,
            )
        ]
    )

    async def write(tx: WriteTransaction) -> Session:
        try:
            rotation = await rotate_refresh_token(tx.session, refresh_token)
        except RefreshTokenRejectedError:
            return rejected  # the family revocation, if any, commits
        viewer = await viewer_for_user(tx.session, rotation.user_id)
        if viewer is None:
            return rejected
        return Session(
            user_id=rotation.user_id,
            access_token=issue_access_token(ctx.services.tokens, viewer),
            refresh_token=rotation.refresh_token,
        )

    try:
        return await write_transaction(ctx, write, conflict_at=("refreshToken",))
    except Refused as refused:
        return Session(problems=refused.problems)


async def logout(ctx: Context, refresh_token: str) -> list[Problem]:

    async def write(tx: WriteTransaction) -> list[Problem]:
        if not await revoke_refresh_token(tx.session, refresh_token):
            return [Problem(("refreshToken",), "unknown refresh token", ProblemCode.NOT_FOUND)]
        return []

    try:
        return await write_transaction(ctx, write, conflict_at=("refreshToken",))
    except Refused as refused:
        return refused.problems
