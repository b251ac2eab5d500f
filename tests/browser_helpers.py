"""A real browser for the tests: Debian's ``chromium``, headless, driven over the DevTools protocol.

No test framework downloads a browser: ``scripts/system-deps.sh test`` installs Debian's package,
and a test skips (saying why) where it is missing. Chromium runs with a fresh profile and every
background service off, so it never reaches for the network; the DevTools WebSocket is on loopback
(``--remote-debugging-port=0``: the port it picked is read from its profile directory).
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websocket

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--no-default-browser-check", "--mute-audio", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]


def chromium_path() -> str:
    """Debian's chromium, or a skip that says how to get it."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh test installs it; make test runs that)")
    return path


class Chromium:
    """One headless chromium with one page, driven over the DevTools protocol."""

    def __init__(self, profile: Path, *, width: int = 1280, height: int = 720, timeout: float = 60.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = open(profile.parent / f"{profile.name}-chromium.log", "w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                      "about:blank"], stdout=self.log, stderr=subprocess.STDOUT)
        port = self._devtools_port(profile / "DevToolsActivePort", timeout)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.SimpleQueue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, name="cdp", daemon=True)
        self._reader.start()

    def _devtools_port(self, path: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                first = path.read_text().splitlines()[0]
                return int(first)
            except (OSError, IndexError, ValueError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"chromium did not start (exit {self.proc.poll()}): {self.log.read()[-2000:]}")
            time.sleep(0.05)

    def _read(self) -> None:
        while True:
            try:
                message = json.loads(self.ws.recv())
            except Exception:  # closed
                return
            if "id" in message:
                with self._lock:
                    waiting = self._replies.get(message["id"])
                if waiting is not None:
                    waiting.put(message)
            else:
                self.events.put(message)

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (raises on a protocol error)."""
        call_id = next(self._ids)
        reply: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        with self._lock:
            self._replies[call_id] = reply
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        message = reply.get(timeout=timeout)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while self.evaluate("document.readyState") != "complete":
            assert time.monotonic() < deadline, f"{url} did not load"
            time.sleep(0.02)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
