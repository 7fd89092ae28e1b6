"""Countries (ISO 3166-1 alpha-2)."""

from __future__ import annotations

from functools import cache

import pycountry


def country_codes() -> list[str]:
    """Every ISO 3166-1 alpha-2 code, in alphabetical order."""
    return sorted(country.alpha_2 for country in pycountry.countries)


@cache
def is_country(code: str) -> bool:
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None
