"""The command line as an operator uses it (click's runner, the real database)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wpbridge.cli import main


@pytest.fixture
def run(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("WPBRIDGE_DATA", str(tmp_path))
    monkeypatch.setenv("WPBRIDGE_DATABASE_URL", database_url)
    monkeypatch.delenv("WPBRIDGE_PROVIDER", raising=False)
    runner = CliRunner()

    def _run(*args, ok=True, input=None):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output
    _run("db", "upgrade")
    return _run


def test_site_lifecycle(run):
    out = json.loads(run("site", "add", "shop.example.com", "--domain", "example.com", "--json"))
    assert out["key_id"].startswith("wpb_") and len(out["secret"]) >= 40
    assert "exists already" in run("site", "add", "shop.example.com", ok=False)
    listed = json.loads(run("site", "list", "--json"))
    assert listed["domains"] == ["example.com"] and "secret" not in listed
    run("site", "domains", "add", "shop.example.com", "news.example.com")
    assert json.loads(run("site", "list", "--json"))["domains"] == ["example.com", "news.example.com"]
    rotated = json.loads(run("site", "rotate-secret", "shop.example.com", "--json"))
    assert rotated["key_id"] != out["key_id"]
    run("site", "quota", "shop.example.com", "--hourly", "10")
    assert json.loads(run("site", "list", "--json"))["hourly_quota"] == 10
    assert "not a domain name" in run("site", "add", "not a domain", ok=False)
    run("site", "remove", "shop.example.com", "--yes")
    assert run("site", "list").startswith("No sites yet. Create one with: wpbridge site add")


def test_suppressions_import_export(run, tmp_path):
    run("site", "add", "shop.example.com", "--domain", "example.com", "--json")
    good = tmp_path / "in.csv"
    good.write_text("Address,Scope,Reason\nA@example.org,all,hard_bounce\nb@example.org,bulk,unsubscribe\n")
    assert "2 added, 0 already listed" in run("suppressions", "import", "--site", "shop.example.com", str(good))
    assert "0 added, 2 already listed" in run("suppressions", "import", "--site", "shop.example.com", str(good))
    bad = tmp_path / "bad.csv"
    bad.write_text("address,scope\nc@example.org,all\nnot-an-address,all\n")
    out = run("suppressions", "import", "--site", "shop.example.com", str(bad), ok=False)
    assert "row 2" in out and "nothing was imported" in out
    exported = run("suppressions", "export", "--site", "shop.example.com")
    lines = exported.strip().splitlines()
    assert lines[0] == "address,scope,reason,source,created_at,expires_at"
    assert sorted(l.split(",")[0] for l in lines[1:]) == ["a@example.org", "b@example.org"]
    run("suppressions", "remove", "--site", "shop.example.com", "a@example.org")
    assert [json.loads(l)["address"] for l in run("suppressions", "list", "--site", "shop.example.com", "--json").splitlines()] == ["b@example.org"]


def test_generated_secrets_never_start_with_a_dash():
    """A secret pasted after an option (swaks --auth-password, wp config set) must not be read
    as an option itself; one in 64 URL-safe tokens would start with "-"."""
    from wpbridge import sites

    tokens = [sites._token(32) for _ in range(3000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == 3000 and all(len(t) >= 43 for t in tokens)
