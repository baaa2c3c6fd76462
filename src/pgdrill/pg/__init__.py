"""Everything that talks to PostgreSQL: connections, client binaries, archives, local clusters."""

from collections.abc import Callable

#: where a PostgreSQL download is announced: the CLI sets it without loading pgdrill.pg.install,
#: which only the commands that may download need (set_progress there wins over it)
install_progress: Callable[[str], None] | None = None
