"""Fetch the GraphiQL IDE's browser files from the npm registry into gateway/static/graphiql/.

The gateway serves these files itself (no CDN: the IDE works offline and under a strict
Content-Security-Policy), so they are committed; run this only to upgrade a pinned version:

    python scripts/vendor_graphiql.py           # fetch the pins below (needs npm on PATH)
    python scripts/vendor_graphiql.py --check   # verify the committed files against vendor.json

Each package's files land unmodified in `vendor/<name>@<version>/` beside its licence, and
`vendor.json` records the registry's integrity hash of each tarball and a sha256 of each file.
The order of PACKAGES is the order in which the page loads their scripts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "gateway" / "static" / "graphiql"
VENDOR = STATIC / "vendor"
MANIFEST = STATIC / "vendor.json"

# name, version, files inside the package. graphiql 4 is the last major with a UMD build
# (5 is ESM-only around Monaco and needs a bundler); React 18 is the last with UMD builds.
PACKAGES: list[tuple[str, str, list[str]]] = [
    ("react", "18.3.1", ["umd/react.production.min.js", "LICENSE"]),
    ("react-dom", "18.3.1", ["umd/react-dom.production.min.js", "LICENSE"]),
    ("graphql-ws", "6.4.2", ["umd/graphql-ws.min.js", "LICENSE.md"]),
    ("graphiql", "4.1.2", ["graphiql.min.js", "graphiql.min.css", "LICENSE"]),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npm_pack(spec: str, into: Path) -> tuple[Path, str]:
    """Download one package tarball with npm; its path and the registry's integrity hash."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("vendor_graphiql: npm is not on PATH")
    output = subprocess.run(  # noqa: S603 (fixed arguments)
        [npm, "pack", spec, "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    packed = json.loads(output)[0]
    return into / packed["filename"], packed["integrity"]


def fetch() -> None:
    manifest: list[dict[str, object]] = []
    shutil.rmtree(VENDOR, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name, version, files in PACKAGES:
            tarball, integrity = npm_pack(f"{name}@{version}", Path(scratch))
            folder = VENDOR / f"{name}@{version}"
            folder.mkdir(parents=True)
            hashes: dict[str, str] = {}
            with tarfile.open(tarball) as archive:
                described = archive.extractfile("package/package.json")
                assert described is not None
                license_name = json.loads(described.read()).get("license", "?")
                for inside in files:
                    member = archive.extractfile(f"package/{inside}")
                    if member is None:
                        raise SystemExit(f"vendor_graphiql: {name}@{version} has no {inside}")
                    target = folder / Path(inside).name
                    target.write_bytes(member.read())
                    hashes[target.name] = sha256(target)
            manifest.append(
                {
                    "name": name,
                    "version": version,
                    "license": license_name,
                    "integrity": integrity,
                    "files": hashes,
                }
            )
            print(f"{name}@{version} ({license_name}): {', '.join(hashes)}")
    MANIFEST.write_text(json.dumps({"packages": manifest}, indent=2) + "\n")


def check() -> int:
    problems = []
    for package in json.loads(MANIFEST.read_text())["packages"]:
        folder = VENDOR / f"{package['name']}@{package['version']}"
        for file, expected in package["files"].items():
            path = folder / file
            if not path.is_file():
                problems.append(f"missing {path}")
            elif sha256(path) != expected:
                problems.append(f"changed {path}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files")
    args = parser.parse_args()
    if args.check:
        return check()
    fetch()
    return check()


if __name__ == "__main__":
    sys.exit(main())
