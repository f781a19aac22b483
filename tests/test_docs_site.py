"""The documentation site builds with ``mkdocs build --strict``, documents every public name, and its
command-line and collector examples work: cli.md's commands run as the installed ``unistore``, and the
Marquez ``openlineage.yml`` of collectors.md delivers a pipeline's events to Marquez's endpoint."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import unistore
from docs_examples import DOCS

ROOT = DOCS.parent
BIN = str(Path(sys.executable).parent)


def test_the_site_builds_strictly(tmp_path):
    """Broken links, pages missing from the nav, unresolved API references: each fails the build."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for anchor in ("unistore.read", "unistore.frames.to_pandas", "unistore.federated.sql", "unistore.Provenance",
                   "unistore.errors.DriftError"):
        assert f'id="{anchor}"' in reference, anchor
    assert (tmp_path / "site" / "cli" / "index.html").exists()


def test_every_public_name_is_in_the_api_reference():
    text = (DOCS / "reference.md").read_text()
    documented = set(re.findall(r"^::: unistore\.(?:\w+\.)*?(\w+)$", text, re.M))  # the defining module may be named
    errors = set(re.findall(r"\b(\w+Error)\b", text.split("::: unistore.errors", 1)[1]))
    missing = sorted(set(unistore.__all__) - documented - errors - {"__version__"})
    assert not missing, f"add these to docs/reference.md: {missing}"


def test_every_public_name_has_a_docstring():
    bare = sorted(n for n in unistore.__all__ if n != "__version__" and not (getattr(unistore, n).__doc__ or "").strip())
    assert not bare, bare


def blocks(page: str) -> list[tuple[str, str]]:
    """The page's ```python and ```bash blocks, in page order."""
    return re.findall(r"```(python|bash)\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)


def test_the_command_line_page_runs_as_written(tmp_path, monkeypatch):
    """Each ``unistore ...`` line of docs/cli.md, run by a shell in one folder; ``# exit N`` marks an expected failure."""
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    env.pop("UNISTORE_LINEAGE_LOG", None)
    namespace: dict = {"__name__": "docs_example"}
    commands = 0
    for kind, body in blocks("cli.md"):
        if kind == "python":
            exec(compile(body, "docs/cli.md", "exec"), namespace)  # noqa: S102
            continue
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("export "):
                key, value = line.removeprefix("export ").split("=", 1)
                env[key] = value
                continue
            expected = int(line.split("# exit", 1)[1]) if "# exit" in line else 0
            command = line.split("#", 1)[0].strip()
            assert command.startswith("unistore "), line
            result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=300, env=env)
            assert result.returncode == expected, f"{command}: {result.returncode}\n{result.stdout}\n{result.stderr}"
            if expected:
                assert result.stderr.strip().splitlines()[-1].startswith(("unistore: ", "unistore read: error"))
            commands += 1
    assert commands >= 20
    assert (tmp_path / "carts.parquet").exists() and (tmp_path / "weekly-report.html").exists()
    logged = [json.loads(line) for line in (tmp_path / "lineage.jsonl").read_text().splitlines()]
    assert len(logged) >= 2  # the reads made after `export UNISTORE_LINEAGE_LOG=...`


class _Marquez(http.server.BaseHTTPRequestHandler):
    """Stands in for Marquez's API: takes OpenLineage events at POST /api/v1/lineage, 201 like Marquez."""

    received: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, body))
        self.send_response(201 if self.path == "/api/v1/lineage" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_marquez_configuration_delivers_to_marquez_s_endpoint(tmp_path):
    text = (DOCS / "collectors.md").read_text()
    (config,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if "openlineage.yml" in b]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Marquez)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        project = tmp_path / "project"
        project.mkdir()
        (project / "openlineage.yml").write_text(
            config.replace("http://localhost:5000", f"http://127.0.0.1:{server.server_address[1]}"))
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": [1, 2]}), project / "orders.parquet")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "UNISTORE_LINEAGE"))}
        env.update({"HOME": str(tmp_path), "OPENLINEAGE_NAMESPACE": "shop-analytics",
                    "UNISTORE_LINEAGE_SPOOL": str(tmp_path / "spool")})
        script = ("import unistore\n"
                  "with unistore.run('nightly'):\n    unistore.read('orders.parquet')\n"
                  "assert unistore.lineage.flush(30)\n")
        result = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()
    paths = {p for p, _ in _Marquez.received}
    assert paths == {"/api/v1/lineage"}
    events = [e for _, e in _Marquez.received]
    assert {e["job"]["namespace"] for e in events} == {"shop-analytics"}
    assert {e["job"]["name"] for e in events} == {"nightly"}
    assert sorted(e["eventType"] for e in events) == ["COMPLETE", "START"]
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    assert [d["name"] for d in complete["inputs"]] == [str(project / "orders.parquet")]


@pytest.mark.parametrize("page", ["tour.md", "notebooks.md", "faq.md", "cli.md", "collectors.md"])
def test_the_new_pages_are_in_the_nav(page):
    assert f": {page}" in (ROOT / "mkdocs.yml").read_text()
