"""``unistore test`` and ``unistore sample``: a catalog's data tests run like a test suite, and unit data sets.

Each subcommand is a pair (add its arguments, run it) that :mod:`unistore.cli`
lists; the work is the catalog's (:meth:`~unistore.catalogs.Catalog.test`,
:meth:`~unistore.catalogs.Catalog.sample`), this module only parses and prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..catalogs import catalog
from ..errors import BadSpecError, DataTestWarning


def _catalog_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", metavar="PATH",
                   help="the catalog file (default: $UNISTORE_CATALOG, else the nearest unistore.yaml upwards)")


def test_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="datasets to test (default: every one with tests)")
    p.add_argument("--lock", action="store_true",
                   help="test the locked versions (a dataset not locked, or drifted, is an error); "
                        "default: the data as it is now")
    p.add_argument("--junit-xml", metavar="FILE", help="also write the results as JUnit XML for CI systems")
    _catalog_option(p)


def test(args: argparse.Namespace) -> int:
    """Exit 1 when a test of severity error failed or a dataset could not be read."""
    if args.junit_xml:
        folder = os.path.dirname(os.path.abspath(args.junit_xml))
        if not os.path.isdir(folder):
            raise BadSpecError(f"--junit-xml folder does not exist: {folder[:200]}")
    cat = catalog(args.catalog)
    cases = cat.test_cases(args.names or None, lock="strict" if args.lock else "off")
    if not cases:
        print(f"{cat.path}: no dataset declares tests")
        return 0
    print(f"testing {len(cases)} dataset(s) of {cat.path}" + (" at their locked versions" if args.lock else ""),
          file=sys.stderr)
    from ..testrunner import run_data_tests

    report = run_data_tests(cases, progress=lambda line: print(line, flush=True))
    print(report.summary())
    if args.junit_xml:
        with open(args.junit_xml, "w", encoding="utf-8") as f:
            f.write(report.junit_xml())
        print(f"wrote {args.junit_xml}", file=sys.stderr)
    return report.exit_code


def sample_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the dataset to sample")
    p.add_argument("--rows", type=int, default=1000, help="rows to keep (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="the hash seed: another seed, another subset (default 0)")
    p.add_argument("--key", help="comma-separated key columns (default: the dataset's unique test, else all)")
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="where to write the sample")
    p.add_argument("--lock", action="store_true", help="sample the locked version of the dataset")
    p.add_argument("--no-tests", action="store_true", help="do not run the dataset's tests on the sample")
    _catalog_option(p)


def sample(args: argparse.Namespace) -> int:
    cat = catalog(args.catalog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataTestWarning)  # the lines below say WARN
        table = cat.sample(args.name, args.rows, seed=args.seed, key=args.key.split(",") if args.key else None,
                           out=args.out, lock="strict" if args.lock else "off", tests=not args.no_tests)
    from ..provenance import provenance_of
    from ..testrunner import result_line

    record = provenance_of(table)
    info = (record.catalog or {}).get("sample") or {}
    for result in record.checks or []:
        print(result_line(result))
    print(f"wrote {args.out}: {table.num_rows} of {info.get('parent_rows')} rows of {args.name} "
          f"(key {', '.join(info.get('key') or [])}, seed {args.seed}; read {record.parents[0]}), "
          f"listed in {cat.lock_path.name}")
    return 0
