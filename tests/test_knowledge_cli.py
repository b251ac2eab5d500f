"""``edgevoice knowledge index|search|list``: what the owner sees is what the assistant would find."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def knowledge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgevoice", "knowledge", *args], capture_output=True, text=True, timeout=60)


def setup(tmp_path: Path) -> Path:
    folder = tmp_path / "k"
    folder.mkdir()
    (folder / "hours.md").write_text("# Bakery\n\n## Hours\n\nOn Tuesday we close at 14:00.\n")
    (folder / "broken.txt").write_bytes(b"\xff\xfe\x00b\x00a\x00d")
    config = tmp_path / "edgevoice.toml"
    config.write_text(f'[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n'
                      f'[knowledge]\npaths = ["{folder}"]\nindex_dir = "{tmp_path / "state"}"\n')
    return config


def test_index_search_and_list(tmp_path):
    config = str(setup(tmp_path))
    done = knowledge("index", "--config", config)
    assert done.returncode == 1, done.stderr  # a file was skipped: say so
    assert "1 indexed" in done.stdout and "skipped" in done.stdout and "broken.txt" in done.stdout
    found = knowledge("search", "when do you close on tuesday", "--config", config)
    assert found.returncode == 0 and "hours.md > Bakery > Hours" in found.stdout and "14:00" in found.stdout
    raw = knowledge("search", "tuesday", "--json", "--config", config)
    assert json.loads(raw.stdout) == {"passages": [{"source": "hours.md", "heading": "Bakery > Hours",
                                                    "text": "On Tuesday we close at 14:00."}]}
    assert knowledge("search", "parking", "--config", config).returncode == 1
    listed = knowledge("list", "--config", config)
    assert "1 passages" in listed.stdout and "binary" in listed.stdout


def test_without_knowledge_paths_it_says_so(tmp_path):
    config = tmp_path / "edgevoice.toml"
    config.write_text('[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n')
    done = knowledge("list", "--config", str(config))
    assert done.returncode == 78 and "no [knowledge] paths" in done.stderr
