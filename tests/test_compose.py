"""compose.yaml must be accepted by Compose (validated only; no Docker engine runs here)."""

import shutil
import subprocess
from pathlib import Path

from tests.tools import needs_tool

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_is_valid():
    if shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"]
    elif shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                   capture_output=True).returncode == 0:
        cmd = ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"]
    else:
        needs_tool("docker-compose", "apt-get install docker-compose")
        return
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
