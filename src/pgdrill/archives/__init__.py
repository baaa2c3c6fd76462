"""Dumps made by a team's own scripts, as pgdrill reads them: never written, renamed or deleted.

``pattern`` (the ``--archives`` glob), ``names`` (when an archive was made, from its name), ``listing``
(the set over a local folder or an S3 prefix, oldest first), ``sniff`` (the format, from the bytes),
``readers`` (gzip, bzip2, zstd, lz4), ``script`` (plain SQL on its way to psql), ``toc`` (what a dump
holds), ``load`` (verify and restore), ``commands`` (verify and restore over a set).
"""

from pgdrill.archives.listing import Archive, ArchiveSet, Location
from pgdrill.archives.pattern import Pattern, parse

__all__ = ["Archive", "ArchiveSet", "Location", "Pattern", "parse"]
