"""Catalog value types."""

from __future__ import annotations

import enum


class ProductStatus(enum.StrEnum):
    """DRAFT: seen by its seller only. ACTIVE: listed. ARCHIVED: no longer sold."""

    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
