"""The buyer's cart: its types, the `cart` query and the cart mutations."""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry
from strawberry.types import Info

from auth.permissions import buyer
from domain.money import FxTable, MissingRateError
from domain.money import Money as MoneyValue
from resolvers import cart as cart_resolvers
from resolvers import catalog as catalog_resolvers
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.global_ids import to_global_id
from resolvers.outcome import Outcome
from schema.catalog import ProductVariant
from schema.common import CurrencyCode, Money, UserError, user_errors


@strawberry.type(description="A line of the cart: a variant, how many, and what it costs now.")
class CartLine:
    id: strawberry.ID = strawberry.field(description="Pass it to updateCartLine(lineId:).")
    variant: ProductVariant = strawberry.field(description="What this line buys.")
    quantity: int = strawberry.field(
        description="Units in the line; follows the variant's minimum, increment and maximum."
    )
    unit_price: Money = strawberry.field(
        description="What your company pays per unit at this quantity: your contract price "
        "list first, then the volume tiers; in the seller's currency."
    )
    line_total: Money = strawberry.field(
        description="unitPrice times quantity, in the seller's currency."
    )


@strawberry.type(description="Your cart. Lines of several sellers become one order each.")
class Cart:
    id: strawberry.ID = strawberry.field(
        description="The cart's ID; each user has one cart for their company."
    )
    lines: list[CartLine] = strawberry.field(description="At most 100, oldest first.")
    priced: strawberry.Private[list[cart_resolvers.PricedLine]]
    default_currency: strawberry.Private[str]

    @classmethod
    def of(cls, ctx: Context, view: cart_resolvers.CartView, default_currency: str) -> Cart:
        return cls(
            id=strawberry.ID(to_global_id("Cart", view.id)),
            lines=[
                CartLine(
                    id=strawberry.ID(to_global_id("CartLine", line.id)),
                    variant=ProductVariant.from_row(line.variant, ctx),
                    quantity=line.quantity,
                    unit_price=Money.of(line.unit_price),
                    line_total=Money.of(line.line_total),
                )
                for line in view.lines
            ],
            priced=view.lines,
            default_currency=default_currency,
        )

    @strawberry.field(
        description="What checking out in `currency` (default: your company's) would charge: "
        "each line's unit price converted at the latest rate (rounded half-even to the "
        "currency's minor unit), times its quantity, summed.",
        graphql_type=Money,
    )
    def subtotal(
        self, info: Info[Context, None], currency: CurrencyCode | None = None
    ) -> Money | Awaitable[Money]:
        target = currency or self.default_currency

        def total(fx: FxTable | None) -> Money:
            try:
                totals = [line.total_in(target, fx) for line in self.priced]
            except MissingRateError:
                raise BadUserInputError(
                    f"the cart cannot be shown in {target}: an exchange rate is missing"
                ) from None
            return Money.of(MoneyValue(sum(m.minor for m in totals), target))

        if all(line.unit_price.currency == target for line in self.priced):
            return total(None)

        async def load() -> Money:
            return total(await catalog_resolvers.fx_table(info.context))

        return load()


@strawberry.type(description="The result of changing the cart.")
class CartPayload:
    cart: Cart | None = strawberry.field(
        description="The cart after the change; null when the change was refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


async def _cart(info: Info[Context, None]) -> Cart:
    ctx = info.context
    view = await cart_resolvers.view_cart(ctx)
    company = await ctx.loaders.company_by_id.load(ctx.viewer.company_id)
    return Cart.of(ctx, view, company.default_currency)


async def _payload(info: Info[Context, None], outcome: Outcome) -> CartPayload:
    return CartPayload(
        cart=None if outcome.problems else await _cart(info),
        user_errors=user_errors(outcome.problems),
    )


@strawberry.type
class CartQuery:
    @strawberry.field(description="Your cart (buyers).", extensions=buyer())
    async def cart(self, info: Info[Context, None]) -> Cart | None:  # null only when denied
        return await _cart(info)


@strawberry.type
class CartMutation:
    @strawberry.mutation(
        description="Add units of a variant (to its line, if the cart has one). The line's "
        "total quantity must follow the variant's minimum, increment and maximum.",
        extensions=buyer(),
    )
    async def add_to_cart(
        self, info: Info[Context, None], variant_id: strawberry.ID, quantity: int
    ) -> CartPayload:
        return await _payload(
            info, await cart_resolvers.add_to_cart(info.context, variant_id, quantity)
        )

    @strawberry.mutation(
        description="Set a line's quantity; 0 removes the line.", extensions=buyer()
    )
    async def update_cart_line(
        self, info: Info[Context, None], line_id: strawberry.ID, quantity: int
    ) -> CartPayload:
        return await _payload(
            info, await cart_resolvers.update_cart_line(info.context, line_id, quantity)
        )

    @strawberry.mutation(description="Remove every line from your cart.", extensions=buyer())
    async def clear_cart(self, info: Info[Context, None]) -> CartPayload:
        return await _payload(info, await cart_resolvers.clear_cart(info.context))
