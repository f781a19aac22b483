"""``import unistore`` imports only the errors; everything else waits for its first use (``unistore._lazy``).

Guarded by what a fresh interpreter has imported, never by timing: each
check runs ``python -c`` so that no module this test process already holds
can hide an import.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import unistore

SRC = Path(unistore.__file__).resolve().parent

#: what ``import unistore`` used to import and no longer does: the read path (pyarrow and numpy with it),
#: lineage with the OpenTelemetry API and pyarrow.compute, the registry with importlib.metadata (plugin
#: entry points), the OpenLineage sink and its spool, runs
DEFERRED = (
    "pyarrow",
    "pyarrow.compute",
    "numpy",
    "opentelemetry",
    "importlib.metadata",
    "unistore.api",
    "unistore.engine",
    "unistore.provenance",
    "unistore.fingerprint",
    "unistore.registry",
    "unistore.lineage",
    "unistore.lineage.config",
    "unistore.lineage.openlineage",
    "unistore.lineage.spool",
    "unistore.runs",
)

#: the lineage sinks' modules: a read imports them only when lineage is configured
SINKS = ("unistore.lineage.openlineage", "unistore.lineage.spool", "unistore.lineage.log")


def run(code: str, home: Path | None = None) -> object:
    """What ``code`` prints as JSON, run in a fresh interpreter; with ``home``, also there and with no
    lineage configured by the environment (no OpenLineage variable, no local log, no openlineage.yml)."""
    env = None
    if home is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "UNISTORE_LINEAGE"))}
        env["HOME"] = str(home)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env, cwd=home
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_unistore_leaves_the_read_path_and_lineage_for_their_first_use(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), path)
    found = run(
        "import json, sys, unistore\n"
        f"early = sorted(m for m in {DEFERRED!r} if m in sys.modules)\n"
        f"rows = unistore.read({str(path)!r}).num_rows\n"
        "plugin = unistore.read('counter://4').num_rows  # a third-party scheme, found through its entry point\n"
        f"sinks = sorted(m for m in {SINKS!r} if m in sys.modules)\n"
        "print(json.dumps([early, rows, plugin, 'opentelemetry' in sys.modules, sinks]))",
        home=tmp_path,
    )
    # nothing heavy at import; reads, reported to OpenTelemetry, still work; no sink module without a sink
    assert found == [[], 3, 4, True, []]


def test_the_sql_planner_brings_the_dialect_it_parses_every_query_in():
    """sqlglot loads a dialect on first use (0.19 s of CPU for DuckDB's): with the planner, not in the first query,
    so a caller that imports ``unistore.federated`` ahead has nothing left to load."""
    found = run("import json, sys, unistore.federated.plan\n"
                "print(json.dumps('sqlglot.dialects.duckdb' in sys.modules))")
    assert found is True


def test_dir_lists_every_public_name_before_its_first_use():
    assert run("import json, unistore; print(json.dumps(sorted(set(unistore.__all__) - set(dir(unistore)))))") == []


def test_a_submodule_imported_first_never_hides_the_public_function_of_its_name():
    # unistore/source.py, fingerprint.py and replay.py share their names with unistore.source() & co.
    found = run(
        "import json, sys, unistore.source, unistore.fingerprint, unistore.replay, unistore.engine\n"
        "import unistore, unistore.api\n"
        "print(json.dumps([unistore.source is unistore.api.source,\n"
        "                  unistore.fingerprint is sys.modules['unistore.fingerprint'].fingerprint,\n"
        "                  unistore.replay is sys.modules['unistore.replay'].replay]))"
    )
    assert found == [True, True, True]


#: a thread touching ``Source`` imports engine -> ``unistore.lineage.span`` while the other imports lineage
_RACE = (
    "import json, threading, unistore\n"
    "names, barrier, errors = {names!r}, threading.Barrier(2), []\n"
    "def touch(name):\n"
    "    barrier.wait()\n"
    "    try:\n"
    "        getattr(unistore, name)\n"
    "    except Exception as exc:\n"
    "        errors.append(f'{{name}}: {{type(exc).__name__}}: {{exc}}')\n"
    "threads = [threading.Thread(target=touch, args=(n,)) for n in names]\n"
    "[t.start() for t in threads]; [t.join() for t in threads]\n"
    "print(json.dumps(errors))"
)


def test_two_threads_first_touching_different_names_both_get_them():
    # each round in fresh interpreters, started together so that the machine's load does not serialise them
    pairs = [("Source", other) for other in ("lineage", "run", "replay", "configure_lineage")] * 3
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACE.format(names=pair)], stdout=subprocess.PIPE, text=True)
        for pair in pairs
    ]
    errors = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert [e for e in errors if e] == []


def _type_checking_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING")
    return {(alias.asname or alias.name) for node in block.body for alias in node.names}  # type: ignore[attr-defined]


def test_type_checkers_see_exactly_the_deferred_names():
    assert _type_checking_names(SRC / "__init__.py") == set(unistore._LAZY)
