"""Records management: retention rules, legal holds, the trash, record declarations, disposition lists."""
