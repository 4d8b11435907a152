"""Assessment reports (seed 004): filed for a person, released after feedback; web and API adapters."""
