"""event stream: outbox events numbered by the relay (seq), with their stream and parties

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_events", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("outbox_events", sa.Column("stream", sa.String(length=20), nullable=True))
    op.add_column("outbox_events", sa.Column("buyer_id", sa.UUID(), nullable=True))
    op.add_column("outbox_events", sa.Column("seller_id", sa.UUID(), nullable=True))
    # Events written before this revision are order events whose payload names both parties;
    # they were never published (no relay existed), so the relay numbers and sends them.
    op.execute(
        "UPDATE outbox_events SET stream = 'orders', "
        "buyer_id = (payload->>'buyerId')::uuid, seller_id = (payload->>'sellerId')::uuid, "
        "published_at = NULL"
    )
    for column in ("stream", "buyer_id", "seller_id"):
        op.alter_column("outbox_events", column, nullable=False)
    op.create_check_constraint(
        op.f("ck_outbox_events_stream_known"), "outbox_events", "stream IN ('orders', 'quotes')"
    )
    op.create_unique_constraint(op.f("uq_outbox_events_seq"), "outbox_events", ["seq"])
    op.drop_index("ix_outbox_events_unpublished", table_name="outbox_events")
    op.drop_index("ix_outbox_events_channel_id", table_name="outbox_events")
    op.create_index(
        "ix_outbox_events_unsequenced",
        "outbox_events",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
    )
    op.create_index(
        "ix_outbox_events_unsent",
        "outbox_events",
        ["seq"],
        postgresql_where=sa.text("seq IS NOT NULL AND published_at IS NULL"),
    )
    op.create_index("ix_outbox_events_channel_seq", "outbox_events", ["channel", "seq"])
    op.create_index(
        "ix_outbox_events_buyer_id_stream_seq", "outbox_events", ["buyer_id", "stream", "seq"]
    )
    op.create_index(
        "ix_outbox_events_seller_id_stream_seq", "outbox_events", ["seller_id", "stream", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_events_seller_id_stream_seq", table_name="outbox_events")
    op.drop_index("ix_outbox_events_buyer_id_stream_seq", table_name="outbox_events")
    op.drop_index("ix_outbox_events_channel_seq", table_name="outbox_events")
    op.drop_index("ix_outbox_events_unsent", table_name="outbox_events")
    op.drop_index("ix_outbox_events_unsequenced", table_name="outbox_events")
    op.create_index("ix_outbox_events_channel_id", "outbox_events", ["channel", "id"])
    op.create_index(
        "ix_outbox_events_unpublished",
        "outbox_events",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_constraint(op.f("uq_outbox_events_seq"), "outbox_events", type_="unique")
    op.drop_constraint(op.f("ck_outbox_events_stream_known"), "outbox_events", type_="check")
    for column in ("seller_id", "buyer_id", "stream", "seq"):
        op.drop_column("outbox_events", column)
