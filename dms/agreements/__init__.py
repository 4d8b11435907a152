"""Agreements with practice holders: drafting, the two signatures, the term; web and API adapters."""
