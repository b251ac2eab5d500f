"""What an idle daemon with the default config loads: not the modules only optional features need
(they cost resident memory on a 512 MB board); each is loaded once its feature is configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Loaded in a fresh process: the test process itself has imported everything.
DAEMON = textwrap.dedent("""
    import sys
    import edgevoice.commands.run, edgevoice.daemon.daemon, edgevoice.daemon.control, edgevoice.daemon.outputs
    from edgevoice.config.load import load_default_config, parse_config
    from edgevoice.tools.device import DeviceTools
    DeviceTools(load_default_config(), lambda _e: None).close()
    print(" ".join(sorted(m for m in sys.modules if m in {"sqlite3", "html.parser", "aiohttp"} or m.startswith("edgevoice.knowledge"))))
    folder, state = sys.argv[1:3]
    config = parse_config(f'[voicelive]\\nendpoint = "https://x.services.ai.azure.com"\\n'
                          f'[knowledge]\\npaths = ["{folder}"]\\nindex_dir = "{state}"\\n', "<t>")
    tools = DeviceTools(config, lambda _e: None)
    print(tools.index.passage_count, "sqlite3" in sys.modules)
    tools.close()
""")


def test_an_idle_daemon_loads_no_knowledge_index_until_knowledge_is_configured(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "hours.md").write_text("# Hours\n\nWe open at nine.\n")
    done = subprocess.run([sys.executable, "-c", DAEMON, str(tmp_path / "k"), str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    idle, configured = done.stdout.splitlines()[-2:]
    assert idle == ""
    assert configured == "1 True"
