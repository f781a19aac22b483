"""Credentials are removed from every location before it is recorded, shown or logged.

Database user names stay (replay reconnects as the same user); passwords, secret
query parameters and the whole user info of HTTP / object-store locations go.
"""

import base64
import os
import subprocess
import sys
import textwrap

import pytest

import unistore
from unistore.location import Location, cap, redact, scrub


@pytest.mark.parametrize("uri, shown", [
    ("postgresql://bob:s3cr3t@db.example:5432/shop", "postgresql://bob@db.example:5432/shop"),
    ("postgresql+psycopg://bob:s3cr3t@db.example/shop?sslmode=require&password=s3cr3t",
     "postgresql+psycopg://bob@db.example/shop?sslmode=require"),
    ("s3://bucket/key?X-Amz-Signature=abc123&X-Amz-Credential=AKIA", "s3://bucket/key"),
    ("s3://bucket/key?X-Amz-Security-Token=abc123&X-Amz-Date=2020&versionId=7", "s3://bucket/key?versionId=7"),
    ("https://acct.blob.core.windows.net/c/f.parquet?sv=2024&sig=SIGNATURE&se=2030", "https://acct.blob.core.windows.net/c/f.parquet"),
    ("http://user:pw@[::1]:8080/data.csv?token=t0k3n&page=2", "http://[::1]:8080/data.csv?page=2"),
    ("sqlite:////abs/path/shop.db", "sqlite:////abs/path/shop.db"),
    ("mysql://root@127.0.0.1:3306/test?database=x", "mysql://root@127.0.0.1:3306/test?database=x"),
    ("/local/path/file.parquet", "/local/path/file.parquet"),
    # finding 5: a bare token as the user name of an HTTP URL is a credential
    ("https://ghp_abcdefgh12345678@github.example/o/r/t.csv", "https://github.example/o/r/t.csv"),
    ("s3://AKIAKEY:secretvalue@bucket/k.parquet", "s3://bucket/k.parquet"),
    # finding 5: InfluxDB 1.x's own u/p parameters, JWTs, signatures
    ("influxdb://h:8086/db?u=admin&p=hunter2hunter2", "influxdb://h:8086/db?u=admin"),
    ("http://h/x.csv?jwt=eyJhbGciOi.eyJzdWIi.sig&access_token=a1b2c3&api_key=k&apikey=k2&sig=s&page=1",
     "http://h/x.csv?page=1"),
    # finding 5: passwords with unencoded reserved characters are known whole
    ("postgresql://bob:pa/ss?wo#rd@db.example/shop", "postgresql://bob@db.example/shop"),
    ("postgresql://bob:p@ss:w/rd@db.example:5432/shop", "postgresql://bob@db.example:5432/shop"),
    ("http://h:8080/x.csv?email=a@b.example", "http://h:8080/x.csv?email=a%40b.example"),
])
def test_redaction(uri, shown):
    assert redact(uri) == shown
    loc = Location.parse(uri)
    assert str(loc) == shown and "s3cr3t" not in repr(loc)


@pytest.mark.parametrize("uri, user, password", [
    ("postgresql://bob:pa/ss@h/db", "bob", "pa/ss"),
    ("postgresql://bob:pa?ss@h/db", "bob", "pa?ss"),
    ("postgresql://bob:pa#ss@h/db", "bob", "pa#ss"),
    ("postgresql://bob:p@ss/w:rd@h:5432/db", "bob", "p@ss/w:rd"),
    ("postgresql://bob:p%40ss%2Fword@h/db", "bob", "p@ss/word"),
])
def test_password_with_reserved_characters_is_known_whole(uri, user, password):
    loc = Location.parse(uri)
    assert (loc.username, loc.password, loc.netloc_host) == (user, password, "h")
    assert password in loc.secrets
    assert Location.parse(loc.with_credentials()).password == password


def test_secrets_are_collected_for_scrubbing():
    loc = Location.parse("postgresql://bob:p%40ss%2Fword@h/db?api_token=tok-123")
    assert {"p@ss/word", "tok-123"} <= set(loc.secrets)
    text = scrub("failed for p@ss/word and p%40ss%2Fword, tok-123", loc.secrets)
    assert "p@ss" not in text and "p%40ss" not in text and "tok-123" not in text
    basic = base64.b64encode(b"bob:p@ss/word").decode()
    assert basic in loc.secrets  # an HTTP Authorization header echoed in a message


@pytest.mark.parametrize("uri", ["postgresql://[::1/db", "postgresql://u:pw0rd-secret@h:99999/db",
                                 "http://[fe80::1/x", 123, b"postgresql://h/db", None, ""])
def test_malformed_locations_are_bad_spec_errors_that_do_not_echo(uri):
    with pytest.raises(unistore.BadSpecError) as info:
        Location.parse(uri)
    assert "pw0rd-secret" not in str(info.value) and "::1/db" not in str(info.value)


def test_errors_about_a_location_do_not_echo_its_password(tmp_path):
    with pytest.raises(unistore.UnistoreError) as info:
        unistore.read("nosuch://alice:hunter22@host/x")
    assert "hunter22" not in str(info.value)
    with pytest.raises(unistore.BadSpecError) as info:
        unistore.source("sqlite:///x.db", password="hunter22")
    assert "hunter22" not in str(info.value)


def test_cap_keeps_messages_short():
    assert cap("x" * 100_000).startswith("x" * 10) and len(cap("x" * 100_000)) < 1100
    assert cap("short") == "short"


def test_replay_reconnects_as_the_recorded_user_in_a_clean_environment(tmp_path):
    """Finding 6 / issue 17: the record keeps the user name, so replay works with no USER/PGUSER set."""
    from stores.servers_sql import PG_URI, pg_connect, unique

    table = unique("c1_replay_user")
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int)")
        cur.execute(f"INSERT INTO {table} VALUES (1), (2)")
        conn.commit()
    try:
        t = unistore.read(PG_URI, table)
        assert unistore.provenance_of(t).source.uri.startswith("postgresql://postgres@")
        record = tmp_path / "t.parquet"
        import pyarrow.parquet as pq

        pq.write_table(t, record)
        script = textwrap.dedent(f"""
            import pyarrow.parquet as pq, unistore
            t = pq.read_table({str(record)!r})
            print(unistore.replay(t).num_rows)
        """)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no USER, LOGNAME, PGUSER
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                             cwd=str(tmp_path))
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == "2"
    finally:
        with pg_connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            conn.commit()


def test_a_location_parsed_again_still_sees_credentials_set_in_the_environment_since(monkeypatch):
    """Parsing is cached per text; the driver's credential variables are still read at every parse."""
    uri = "postgresql://bob@db.example/shop"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    first = Location.parse(uri)
    assert "env-pw-0123456789" not in first.secrets
    monkeypatch.setenv("PGPASSWORD", "env-pw-0123456789")
    again = Location.parse(uri)
    assert again is first  # the cached object...
    assert "env-pw-0123456789" in again.secrets  # ...with today's environment
    assert "env-pw-0123456789" in unistore.location.known_secrets()
    assert scrub("failed: env-pw-0123456789", again.secrets) == "failed: ***"


def test_environment_secrets_are_what_os_environ_gives_however_it_changes(monkeypatch):
    """The quick "is any credential variable set" check must not change what is found: every name, in
    order, short values left out, surrogate-escaped bytes as os.environ decodes them, a replaced mapping."""
    from unistore.location import ENV_SECRETS

    loc = Location.parse("sqlite:///no-secrets.db")
    for name in ENV_SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert loc.secrets == ()
    monkeypatch.setenv("MYSQL_PWD", "ab")  # too short to scrub
    assert loc.secrets == ()
    undecodable = "pw-\udcff\udcfe-0123456789"  # bytes that are not UTF-8, as os.environ hands them back
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", undecodable)
    monkeypatch.setenv("PGPASSWORD", "env-pw-4567")
    assert loc.secrets == (undecodable, "env-pw-4567")
    assert loc.secrets == tuple(sorted((v for n in ENV_SECRETS if len(v := os.environ.get(n, "")) >= 3),
                                       key=len, reverse=True))
    monkeypatch.delenv("GOOGLE_OAUTH_ACCESS_TOKEN")
    assert loc.secrets == ("env-pw-4567",)
    monkeypatch.setattr(os, "environ", {"INFLUX_TOKEN": "plain-dict-token"})
    assert loc.secrets == ("plain-dict-token",)


def test_the_parse_cache_keeps_no_malformed_text_and_separates_equal_looking_texts():
    with pytest.raises(unistore.BadSpecError):
        Location.parse("postgresql://bob:pw@db.example:notaport/shop")
    with pytest.raises(unistore.BadSpecError):  # raised again, not served from a cache
        Location.parse("postgresql://bob:pw@db.example:notaport/shop")
    a, b = Location.parse("postgresql://bob:pw@db/x"), Location.parse("postgresql://bob:pw2@db/x")
    assert a.password == "pw" and b.password == "pw2" and a is not b


def test_a_credential_variable_added_to_the_names_is_found(monkeypatch):
    """The names' encoded spelling is kept between parses; a module that adds its driver's credential
    variable to ENV_SECRETS must still have that variable's value scrubbed."""
    from unistore import location

    loc = Location.parse("sqlite:///no-secrets.db")
    for name in location.ENV_SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert loc.secrets == ()  # the names as they were are encoded and kept
    monkeypatch.setattr(location, "ENV_SECRETS", location.ENV_SECRETS + ("SNOWFLAKE_PASSWORD",))
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "snow-pw-0123")
    assert loc.secrets == ("snow-pw-0123",)
