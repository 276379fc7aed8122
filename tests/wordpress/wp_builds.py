"""The WordPress releases the plugin's end-to-end tests run on, as source trees to copy.

- 6.1: Debian's ``wordpress`` package (6.1.9), /usr/share/wordpress.
- 6.5: WordPress 6.5.5 from the npm package @wp-playground/wordpress-builds: its
  ``src/wordpress/wp-6.5.zip`` (the PHP, comment-stripped but complete) plus
  ``public/wp-6.5/`` (the static files wp-admin needs). Fetched with ``npm pack`` on first
  use and unpacked into a cache keyed by the package version
  ($XDG_CACHE_HOME/wpbridge or ~/.cache/wpbridge; $WPBRIDGE_CACHE overrides), so later runs
  copy it from disk.

``python3 -m tests.wordpress.wp_builds`` fetches every release now (what .ci/run does
before the tests) and prints where each one is. Standard library only: it runs before the
test dependencies are installed.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEBIAN_WORDPRESS = Path("/usr/share/wordpress")
PACKAGE = "@wp-playground/wordpress-builds"
PACKAGE_VERSION = "0.9.19"
# Test ids are "wp" + these keys: test_x[wp6.1], test_x[wp6.5].
RELEASES = {"6.1": "6.1.9", "6.5": "6.5.5"}


class Unavailable(Exception):
    """This release cannot be had here; the message says why and what to install."""


def cache_dir() -> Path:
    if os.environ.get("WPBRIDGE_CACHE"):
        return Path(os.environ["WPBRIDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wpbridge"


def version_of(tree: Path) -> str:
    """``$wp_version`` of the WordPress in ``tree``."""
    text = (tree / "wp-includes" / "version.php").read_text()
    return re.search(r"\$wp_version = '([^']+)'", text).group(1)


def source(release: str) -> Path:
    """The WordPress tree of ``release`` ("6.1" or "6.5"), fetching it if need be.

    Raises Unavailable (with the reason and the fix) when it cannot be had here."""
    if release == "6.1":
        if shutil.which("php") is None:
            raise Unavailable("php is not installed (apt-get install php-cli php-mysql)")
        if not (DEBIAN_WORDPRESS / "wp-settings.php").is_file():
            raise Unavailable(f"{DEBIAN_WORDPRESS} is missing (apt-get install wordpress)")
        return DEBIAN_WORDPRESS
    if release == "6.5":
        if shutil.which("php") is None:
            raise Unavailable("php is not installed (apt-get install php-cli php-mysql)")
        return playground_build("6.5")
    raise ValueError(f"unknown WordPress release {release!r}; known: {', '.join(RELEASES)}")


def playground_build(branch: str) -> Path:
    """WordPress ``branch`` unpacked from the npm package into the cache (once)."""
    root = cache_dir() / f"wordpress-builds-{PACKAGE_VERSION}"
    tree = root / f"wp-{branch}"
    if (tree / "wp-settings.php").is_file():
        return tree
    root.mkdir(parents=True, exist_ok=True)
    # One download at a time, across processes; whoever waited finds the tree made.
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tree / "wp-settings.php").is_file():
            return tree
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
            _unpack(Path(tmp), branch, tree)
    return tree


def _unpack(tmp: Path, branch: str, tree: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm is not installed, so WordPress {RELEASES.get(branch, branch)} "
                          f"({PACKAGE}@{PACKAGE_VERSION}) cannot be fetched (apt-get install nodejs npm)")
    spec = f"{PACKAGE}@{PACKAGE_VERSION}"
    try:
        out = subprocess.run([npm, "pack", spec, "--pack-destination", str(tmp), "--loglevel=error"],
                             capture_output=True, text=True, timeout=900, cwd=tmp)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"'npm pack {spec}' took more than 15 minutes") from None
    tarballs = list(tmp.glob("*.tgz"))
    if out.returncode or not tarballs:
        errors = [line for line in out.stderr.splitlines() if line.strip()]
        why = "; ".join(errors[:3]) or f"exit status {out.returncode}"
        raise Unavailable(f"'npm pack {spec}' failed ({why}); the npm registry must be "
                          "reachable once, after which the build is cached in " + str(cache_dir()))
    zip_member = f"package/src/wordpress/wp-{branch}.zip"
    public = f"package/public/wp-{branch}"
    subprocess.run(["tar", "xzf", str(tarballs[0]), "-C", str(tmp), zip_member, public], check=True)
    tarballs[0].unlink()
    staged = tmp / "tree"
    with zipfile.ZipFile(tmp / zip_member) as zf:
        zf.extractall(staged)  # WordPress's files sit at the zip's top level
    shutil.copytree(tmp / public, staged, dirs_exist_ok=True)
    got = version_of(staged)
    if got != RELEASES[branch]:
        raise Unavailable(f"{spec} holds WordPress {got} in {zip_member}, not {RELEASES[branch]}")
    os.replace(staged, tree)


if __name__ == "__main__":
    failed = False
    for release in RELEASES:
        try:
            path = source(release)
            print(f"WordPress {version_of(path)}: {path}")
        except Unavailable as exc:
            print(f"WordPress {RELEASES[release]}: unavailable: {exc}", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)
