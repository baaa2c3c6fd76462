"""Progress lines of dumps and restores: bytes of the total, tables of the TOC, the table at work —
followed from the clients' --verbose lines, which never end up among their errors."""

from __future__ import annotations

import subprocess

from pgdrill.streams import DataProgress, StderrCollector, verbose_info

MiB = 1 << 20


def test_restore_progress_counts_the_tables_of_the_toc() -> None:
    said: list[str] = []
    p = DataProgress(said.append, "restoring", "pg_restore", total_bytes=4 * MiB, table_count=3)
    assert p.describe(0, 0) == "restoring: 0 B of 4.0 MiB (0%), table 0 of 3, 0 B/s"
    for line in ('pg_restore: connecting to database for restore', 'pg_restore: creating TABLE "public.a"',
                 'pg_restore: processing data for table "public.a"',
                 'pg_restore: processing data for table "public.b"'):
        assert p.on_line(line)
    assert not p.on_line("pg_restore: error: could not execute query: ERROR:  relation exists")
    assert not p.on_line("pg_restore: from TOC entry 215; 1259 16386 TABLE a postgres")
    assert not p.on_line("Command was: CREATE TABLE public.a (id integer);")
    assert p.describe(MiB, MiB) == "restoring: 1.0 MiB of 4.0 MiB (25%), table 2 of 3 (public.b), 1.0 MiB/s"


def test_lines_of_parallel_workers_that_run_into_each_other_still_count() -> None:
    """pg_restore --jobs: the workers share one stderr, and a line can arrive inside another."""
    p = DataProgress(lambda _: None, "restoring", "pg_restore", total_bytes=MiB, table_count=3)
    assert p.on_line('pg_restore: processing data for table "public.a"pg_restore: processing data for table '
                     '"public.b"')
    p.on_line('processing data for table "public.c"')  # the tail of a line another worker broke
    p.on_line('pg_restore: processing data for table "public.a"')  # said twice: counted once
    assert p.done == ["public.a", "public.b", "public.c"]
    # an error that names a table is the error report's, not progress
    assert not p.on_line('pg_restore: error: COPY failed for table "d": processing data for table "public.d"')
    assert "public.d" not in p.done


def test_backup_progress_is_a_percentage_of_the_table_data() -> None:
    p = DataProgress(lambda _: None, "dumping", "pg_dump",
                     tables={"public.a": 100 * MiB, "public.b": 300 * MiB, "public.c": 600 * MiB})
    assert p.on_line('pg_dump: dumping contents of table "public.a"')
    assert p.on_line('pg_dump: dumping contents of table "public.b"')
    assert p.on_line("pg_dump: reading extensions")
    assert not p.on_line("pg_dump: error: query failed: ERROR:  permission denied for table c")
    assert p.describe(12 * MiB, MiB) == ("dumping: 10% of 1000.0 MiB of table data, table 2 of 3 (public.b), "
                                         "12.0 MiB written, 1.0 MiB/s")


def test_verbose_lines_are_taken_errors_are_kept() -> None:
    info = verbose_info("pg_dump")
    assert info("pg_dump: saving encoding = UTF8") == "saving encoding = UTF8"
    assert info("pg_dump: warning: could not find where to insert IF EXISTS") is None
    script = ("printf 'pg_dump: reading schemas\\npg_dump: dumping contents of table \"public.t\"\\n"
              "pg_dump: error: Dumping the contents of table \"t\" failed\\npg_dump: detail: Error message\\n' >&2")
    proc = subprocess.Popen(["sh", "-c", script], stderr=subprocess.PIPE)
    assert proc.stderr is not None
    follow = DataProgress(lambda _: None, "dumping", "pg_dump", tables={"public.t": 1})
    lines = StderrCollector(proc.stderr, on_line=follow.on_line).join(10)
    proc.wait()
    assert lines == ['pg_dump: error: Dumping the contents of table "t" failed', "pg_dump: detail: Error message"]
    assert follow.done == ["public.t"]
