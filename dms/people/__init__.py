"""Users, groups, sessions and tokens; the administration pages and commands."""
