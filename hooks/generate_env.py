"""Copier task: writes docker/.env from docker/.env.example (placeholder until secrets land)."""

import os
import shutil
from pathlib import Path

env = Path("docker/.env")
if not env.exists():
    shutil.copyfile("docker/.env.example", env)
os.chmod(env, 0o600)
