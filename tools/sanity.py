"""`make sanity`: ansible-test sanity on the tap.lambdaopt collection, with no network during the run.

ansible-test runs each sanity test in a virtualenv of its own, which it creates with the environment
scrubbed (so pip sees neither PIP_* settings nor a proxy's certificate) and bootstraps with a get-pip
script it downloads from a CI host. Instead:

1. The sanity tests' pinned requirements (ansible-test's own ``sanity.*.txt``) are built once into a
   wheelhouse by the project's pip, with the caller's ordinary pip configuration.
2. ansible-test runs with HOME pointing at ``.sanity/home``, where a stand-in for the get-pip script
   (``tools/sanity_get_pip.py``) installs pip with ``ensurepip`` and writes the new virtualenv's
   ``pip.conf``: no index, only the wheelhouse. Every later install in that virtualenv reads it.
3. The collection is copied beside amazon.aws (linked from the installed ``ansible`` package) into a
   temporary ``ansible_collections`` tree, the layout ansible-test requires; ansible-test makes that
   tree its collections path, so the modules' amazon.aws imports and doc fragments resolve.

Virtualenvs and wheels are kept in ``.sanity/`` between runs; ``make clean`` removes them.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

# ansible-test's own table of the pip version it bootstraps per Python (ansible-core is pinned in requirements.txt).
from ansible_test._internal.python_requirements import get_venv_packages

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "tap" / "lambdaopt"
STATE = ROOT / ".sanity"
HOME = STATE / "home"
CACHE = HOME / ".ansible" / "test" / "cache"
WHEELS = CACHE / "wheels"
STAND_IN = Path(__file__).resolve().parent / "sanity_get_pip.py"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
ANSIBLE_TEST = str(Path(sys.executable).parent / "ansible-test")
REQUIREMENTS = Path(importlib.util.find_spec("ansible_test").origin).parent / "_data" / "requirements"
# What ansible-test asks its get-pip script to install into each new virtualenv (pip==24.2 for Python 3.11).
BOOTSTRAP = get_venv_packages(types.SimpleNamespace(version=PYTHON_VERSION))


def build_wheelhouse() -> None:
    """Build every wheel the sanity virtualenvs will install; skipped when the pins have not changed."""
    files = sorted(REQUIREMENTS.glob("sanity.*.txt"))
    packages = [f"{name}=={version}" for name, version in BOOTSTRAP.items()]
    digest = hashlib.sha256("\n".join([*packages, *(f.read_text() for f in files)]).encode()).hexdigest()
    stamp = WHEELS / ".requirements.sha256"
    if stamp.is_file() and stamp.read_text() == digest:
        return
    shutil.rmtree(WHEELS, ignore_errors=True)
    WHEELS.mkdir(parents=True)
    print(f"Building the sanity tests' wheels into {WHEELS.relative_to(ROOT)}", flush=True)
    # One pip call per file: each is a consistent set of pins on its own, not necessarily together.
    for pins in [packages, *(["-r", str(f)] for f in files)]:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-qq", "--disable-pip-version-check",
                        "--wheel-dir", str(WHEELS), *pins], check=True)
    stamp.write_text(digest)


def install_stand_in() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STAND_IN, CACHE / f"get_pip_{BOOTSTRAP['pip'].replace('.', '_')}.py")


def amazon_aws() -> Path:
    spec = importlib.util.find_spec("ansible_collections.amazon.aws")
    if spec is None:
        sys.exit("amazon.aws is not installed: run `make install` (it comes with the `ansible` package)")
    return Path(next(iter(spec.submodule_search_locations)))


def copy_collection(tree: Path) -> Path:
    """The working tree's collection, without caches or earlier test output, beside amazon.aws."""
    target = tree / "ansible_collections" / "tap" / "lambdaopt"

    def ignore(directory: str, names: list[str]) -> set[str]:
        dropped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory) == COLLECTION / "tests":
            dropped.add("output")
        return dropped

    shutil.copytree(COLLECTION, target, ignore=ignore)
    (tree / "ansible_collections" / "amazon").mkdir()
    (tree / "ansible_collections" / "amazon" / "aws").symlink_to(amazon_aws())
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="append", default=[], help="run only this sanity test (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary collection tree and its output")
    args = parser.parse_args()

    started = time.monotonic()
    build_wheelhouse()
    install_stand_in()
    tree = Path(tempfile.mkdtemp(prefix="lambdaopt-sanity-"))
    try:
        collection = copy_collection(tree)
        command = [ANSIBLE_TEST, "sanity", "--local", "--python", PYTHON_VERSION, "--color", "no"]
        command += [f"--test={name}" for name in args.test]
        # A git repository of its own: ansible-test lists the files git knows, and would otherwise
        # find the enclosing repository (if any) and see none of the copy's.
        subprocess.run(["git", "init", "--quiet", str(tree)], check=True)
        env = {**os.environ, "HOME": str(HOME)}
        result = subprocess.run(command, cwd=collection, env=env)
    finally:
        if args.keep:
            print(f"Kept {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)
    print(f"ansible-test sanity: {time.monotonic() - started:.0f} s", flush=True)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
