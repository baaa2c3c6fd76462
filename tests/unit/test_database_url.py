import pytest

from pgdrill import secrets
from pgdrill.errors import ConfigError
from pgdrill.pg.conn import DatabaseUrl


def test_password_is_never_shown() -> None:
    url = DatabaseUrl.parse("postgresql://app:s3cr%40t-pw@db.internal:6432/shop?sslmode=require")
    assert url.password == "s3cr@t-pw"
    for text in (str(url), repr(url), url.redacted, url.conninfo_without_password()):
        assert "s3cr" not in text
    assert url.redacted == "postgresql://app@db.internal:6432/shop"
    assert "s3cr@t-pw" in url.conninfo()
    assert url.subprocess_env()["PGPASSWORD"] == "s3cr@t-pw"
    assert secrets.scrub("boom s3cr@t-pw and s3cr%40t-pw") == "boom *** and ***"


def test_keyword_conninfo_and_with_dbname() -> None:
    url = DatabaseUrl.parse("host=/tmp/sock port=5433 dbname=a user=u")
    assert url.with_dbname("b").dbname == "b" and url.port == 5433
    assert url.redacted == "postgresql://u@localhost:5433/a"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("mysql://u:p@h/db", "scheme 'mysql://'"),
        ("postgresql://u:p@h:notaport/db", "port"),
        ("host=x port=5432 nonsense", "malformed"),
    ],
)
def test_bad_urls_are_config_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        DatabaseUrl.parse(text)
    assert fragment in exc.value.one_line()
    assert "p@h" not in exc.value.one_line()


@pytest.mark.parametrize(
    ("text", "pooled"),
    [
        ("postgresql://u:p@ep-cool-1234-pooler.us-east-2.aws.neon.tech/db", True),
        ("postgresql://u:p@ep-cool-1234.us-east-2.aws.neon.tech/db", False),
        ("postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:5432/db", True),
        ("postgresql://u:p@db.abc.supabase.co:6543/db", True),
        ("postgresql://u:p@db.abc.supabase.co:5432/db", False),
        ("postgresql://u:p@pgbouncer.internal:5432/db", True),
    ],
)
def test_pooler_detection(text: str, pooled: bool) -> None:
    assert DatabaseUrl.parse(text).is_pooler() is pooled
