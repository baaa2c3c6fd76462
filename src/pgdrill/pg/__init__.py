"""Everything that talks to PostgreSQL: connections, client binaries, archives, local clusters."""
