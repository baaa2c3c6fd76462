"""What an archive holds, from its table of contents: ``pg_restore --list`` for custom, tar and
directory dumps, the script itself for plain SQL (:mod:`pgdrill.archives.script`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgdrill.archives.script import ScriptFacts

#: TOC entry kinds with a space in them, longest first so "TABLE DATA" wins over "TABLE"
_KINDS = ("MATERIALIZED VIEW DATA", "SEQUENCE OWNED BY", "DEFAULT ACL", "FK CONSTRAINT", "TABLE DATA",
          "SEQUENCE SET", "BLOB METADATA", "LARGE OBJECT", "MATERIALIZED VIEW", "EVENT TRIGGER")


@dataclass
class Toc:
    """Tables with rows in the archive, its schemas and extensions, and how many entries it lists."""

    data_tables: list[str] = field(default_factory=list)  # schema.table
    schemas: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    entries: int = 0

    @classmethod
    def from_listing(cls, listing: str) -> Toc:
        toc = cls()
        for line in listing.splitlines():
            if not line.strip() or line.startswith(";"):
                continue
            toc.entries += 1
            _, _, rest = line.partition("; ")
            words = rest.split(" ", 2)  # catalog oid, object oid, then "KIND namespace tag owner"
            if len(words) < 3:
                continue
            body = words[2]
            kind = next((k for k in _KINDS if body.startswith(k + " ")), body.split(" ", 1)[0])
            fields = body[len(kind) + 1:].split(" ")
            namespace = fields[0] if fields else "-"
            tag = " ".join(fields[1:-1]) if len(fields) > 2 else (fields[1] if len(fields) > 1 else "")
            if kind == "TABLE DATA" and namespace != "-":
                name = f"{namespace}.{tag}"
                if name not in toc.data_tables:
                    toc.data_tables.append(name)
            elif kind == "SCHEMA" and tag:
                toc.schemas.append(tag)
            elif kind == "EXTENSION" and tag:
                toc.extensions.append(tag)
        for table in toc.data_tables:
            schema = table.split(".", 1)[0]
            if schema not in toc.schemas:
                toc.schemas.append(schema)
        return toc

    @classmethod
    def from_script(cls, facts: ScriptFacts) -> Toc:
        schemas = list(facts.schemas)
        for table in facts.data_tables:
            schema = table.split(".", 1)[0]
            if schema not in schemas:
                schemas.append(schema)
        return cls(list(facts.data_tables), schemas, list(facts.extensions), facts.lines)
