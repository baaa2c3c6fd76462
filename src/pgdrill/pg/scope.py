"""What a scoped backup holds: pg_dump's --schema, --table, --exclude-schema, --exclude-table and
--exclude-table-data, resolved exactly as pg_dump resolves them, so the manifest (row counts,
schemas, privileges, sequences) describes the archive and the drill knows what was left out on
purpose.

Patterns follow psql's rules (``*``, ``?``, ``"Quoted"`` names, unquoted names folded to lower case,
``schema.name``); :func:`pattern_regexes` is a port of PostgreSQL's ``patternToSQLRegex``
(src/fe_utils/string_utils.c) and the matching runs in the server with its own regex engine, as
pg_dump's does. Selection rules (pg_dump.c): with --table only the matching relations are dumped
(--schema and --exclude-schema have no effect on them) and no schema, extension or large object; with
--schema only those schemas; --exclude-* then remove what they match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from pgdrill.errors import ConfigError

Conn = psycopg.Connection[tuple[object, ...]]


def pattern_regexes(pattern: str) -> list[str]:
    """The anchored regexes of a dotted psql pattern, one per part (name; schema, name; …)."""
    parts: list[str] = []
    cur = ""
    inquotes = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '"':
            if inquotes and pattern[i + 1 : i + 2] == '"':
                cur += '"'
                i += 1
            else:
                inquotes = not inquotes
        elif not inquotes and "A" <= ch <= "Z":
            cur += ch.lower()
        elif not inquotes and ch == "*":
            cur += ".*"
        elif not inquotes and ch == "?":
            cur += "."
        elif not inquotes and ch == ".":
            parts.append(cur)
            cur = ""
        elif ch == "$":
            cur += "\\$"
        else:
            if inquotes and ch in "|*+?()[]{}.^$\\":
                cur += "\\"
            cur += ch
        i += 1
    parts.append(cur)
    return [f"^({p})$" for p in parts]


@dataclass(frozen=True)
class Scope:
    """The scope options of one backup, as given (pg_dump patterns)."""

    schemas: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    exclude_schemas: tuple[str, ...] = ()
    exclude_tables: tuple[str, ...] = ()
    exclude_table_data: tuple[str, ...] = ()

    @property
    def whole(self) -> bool:
        return not (self.schemas or self.tables or self.exclude_schemas or self.exclude_tables
                    or self.exclude_table_data)

    @property
    def everything(self) -> bool:
        """pg_dump's include_everything: extensions and large objects are dumped."""
        return not (self.schemas or self.tables)

    def dump_args(self) -> list[str]:
        return ([f"--schema={p}" for p in self.schemas] + [f"--table={p}" for p in self.tables]
                + [f"--exclude-schema={p}" for p in self.exclude_schemas]
                + [f"--exclude-table={p}" for p in self.exclude_tables]
                + [f"--exclude-table-data={p}" for p in self.exclude_table_data])

    def validate(self) -> None:
        for flag, patterns in (("--schema", self.schemas), ("--table", self.tables),
                               ("--exclude-schema", self.exclude_schemas), ("--exclude-table", self.exclude_tables),
                               ("--exclude-table-data", self.exclude_table_data)):
            for p in patterns:
                if not p.strip():
                    raise ConfigError(f"{flag} is empty", "give a name or pattern, e.g. app.* or \"Billing\".*")
                parts = len(pattern_regexes(p))
                limit = 1 if flag.endswith("schema") else 2
                if parts > limit:
                    raise ConfigError(f"{flag} {p!r} has too many dotted parts",
                                      "use schema.table for tables and a bare name for schemas")


@dataclass(frozen=True)
class Resolved:
    """A scope applied to one database: the names it selected."""

    scope: Scope = field(default_factory=Scope)
    schemas: frozenset[str] | None = None  # None: every user schema
    relations: frozenset[str] | None = None  # None: every relation of the schemas (minus excluded)
    excluded_relations: frozenset[str] = frozenset()
    data_excluded: frozenset[str] = frozenset()  # schema.table whose rows were left out

    def keeps_schema(self, schema: str) -> bool:
        if self.relations is not None:
            return False
        return self.schemas is None or schema in self.schemas

    def keeps_relation(self, schema: str, key: str) -> bool:
        if key in self.excluded_relations:
            return False
        if self.relations is not None:
            return key in self.relations
        return self.schemas is None or schema in self.schemas

    def keeps_data(self, schema: str, key: str) -> bool:
        return self.keeps_relation(schema, key) and key not in self.data_excluded

    def keeps_object(self, schema: str | None, relation: str | None, key: str) -> bool:
        """For pgdrill.pg.privileges: is this object (by its schema and relation) in the dump?"""
        if relation is not None:
            return schema is not None and self.keeps_relation(schema, relation)
        if schema is None or key.startswith("large object "):
            # Objects outside schemas (servers, large objects, global default privileges): whole dumps only.
            return self.scope.everything
        return self.keeps_schema(schema)


WHOLE = Resolved()

_RELATIONS = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND {where}
"""


def _match_relations(conn: Conn, pattern: str) -> set[str]:
    regexes = pattern_regexes(pattern)
    if len(regexes) == 1:
        # pg_dump matches an unqualified name among the relations visible on the default search_path.
        where, params = "c.relname ~ %s AND pg_table_is_visible(c.oid)", [regexes[0]]
    else:
        where, params = "n.nspname ~ %s AND c.relname ~ %s", regexes[-2:]
    return {str(r[0]) for r in conn.execute(_RELATIONS.format(where=where), params).fetchall()}


def _match_schemas(conn: Conn, pattern: str) -> set[str]:
    rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname ~ %s", (pattern_regexes(pattern)[-1],))
    return {str(r[0]) for r in rows.fetchall()}


def _owned_sequences(conn: Conn, tables: set[str]) -> set[str]:
    rows = conn.execute(
        """SELECT sn.nspname || '.' || s.relname, tn.nspname || '.' || t.relname
           FROM pg_depend d
           JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON sn.oid = s.relnamespace
           JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
           WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.deptype IN ('a', 'i')""").fetchall()
    return {str(seq) for seq, table in rows if str(table) in tables}


_FOLDING = ("patterns follow psql: unquoted names are folded to lower case, so quote mixed-case ones "
            "('\"Billing\".*'); an unqualified table name matches tables on the search_path")


def resolve(conn: Conn, scope: Scope) -> Resolved:
    """Apply ``scope`` to the current database (in the backup's snapshot)."""
    if scope.whole:
        return WHOLE
    schemas: set[str] | None = None
    if scope.schemas:
        schemas = set().union(*(_match_schemas(conn, p) for p in scope.schemas))
        if not schemas:
            raise ConfigError(f"no schema matches --schema {' '.join(scope.schemas)}", _FOLDING)
    excluded_schemas = set().union(*(_match_schemas(conn, p) for p in scope.exclude_schemas)) \
        if scope.exclude_schemas else set()
    relations: set[str] | None = None
    if scope.tables:
        relations = set().union(*(_match_relations(conn, p) for p in scope.tables))
        if not relations:
            raise ConfigError(f"no table matches --table {' '.join(scope.tables)}", _FOLDING)
        relations |= _owned_sequences(conn, relations)  # pg_dump dumps the sequences a dumped table owns
    elif excluded_schemas:
        if schemas is None:
            rows = conn.execute("SELECT nspname FROM pg_namespace").fetchall()
            schemas = {str(r[0]) for r in rows}
        schemas -= excluded_schemas
    excluded = set().union(*(_match_relations(conn, p) for p in scope.exclude_tables)) \
        if scope.exclude_tables else set()
    data = set().union(*(_match_relations(conn, p) for p in scope.exclude_table_data)) \
        if scope.exclude_table_data else set()
    return Resolved(scope, None if schemas is None else frozenset(schemas),
                    None if relations is None else frozenset(relations), frozenset(excluded), frozenset(data))
