"""The captions page's web server (aiohttp), on a thread of its own, pushing the board by Server-Sent Events.

Records arrive from the daemon's threads (``record``) and are handed to the server's event loop;
the board is re-rendered after each, and again when a reply's next word becomes due, and every
connected page gets the new view when it changed. A page that connects gets the current view at
once. Only the configured host is answered (the Host header is checked while bound to loopback,
so a web page elsewhere cannot read the captions through DNS rebinding).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from edgevoice.captions.board import CaptionBoard
from edgevoice.captions.page import captions_page
from edgevoice.config.screen import CaptionsConfig, is_loopback

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0  # a comment line this often: a page that went away is noticed
RETRY_MS = 1000  # how soon a page reconnects after losing the server
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    "Referrer-Policy": "no-referrer",
}


class CaptionsServer:
    """Serves the captions page and streams the board to every page that is open."""

    def __init__(self, config: CaptionsConfig, *, clock: Callable[[], float] = time.monotonic,
                 cached_texts: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.board = CaptionBoard(linger_s=config.linger_s, cached_texts=cached_texts)
        self._page = captions_page(config).encode("utf-8")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._clients: set[asyncio.Queue[str]] = set()
        self._last = ""
        self._timer: asyncio.TimerHandle | None = None
        self.port = config.port  # the port actually bound (config.port, or the one picked for 0)

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    # --- from the daemon's threads ------------------------------------------------------------

    def record(self, record: Mapping[str, Any]) -> None:
        """A telemetry listener: hand the record to the server's loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._take, dict(record))
            except RuntimeError:  # the loop closed meanwhile (shutdown)
                pass

    def start(self) -> CaptionsServer:
        """Listen (raises OSError if the address cannot be had) and serve on a thread."""
        loop = asyncio.new_event_loop()
        started: list[BaseException | None] = []
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                started.append(exc)
                ready.set()
                loop.run_until_complete(self._shutdown())
                loop.close()
                return
            started.append(None)
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="captions", daemon=True)
        self._thread.start()
        ready.wait()
        if started[0] is not None:
            raise started[0]
        logger.info("captions page on http://%s:%d/", self.config.host, self.port)
        return self

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- on the server's loop -----------------------------------------------------------------

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/events", self._events)
        app.on_response_prepare.append(self._add_headers)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        addresses = self._runner.addresses  # the port picked, for port 0
        if addresses:
            self.port = addresses[0][1]

    async def _shutdown(self) -> None:
        for queue in list(self._clients):
            queue.put_nowait("")  # ends each stream
        if self._runner is not None:
            await self._runner.cleanup()

    def _allowed_host(self, request: web.Request) -> bool:
        if self.config.allow_remote or not is_loopback(self.config.host):
            return True
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        return is_loopback(host)

    async def _add_headers(self, _request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(_HEADERS)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if not self._allowed_host(request):
            raise web.HTTPMisdirectedRequest(text="unknown host")
        return web.Response(body=self._page, content_type="text/html", charset="utf-8")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._allowed_host(request):
            raise web.HTTPMisdirectedRequest(text="unknown host")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._clients.add(queue)
        try:
            await response.write(f"retry: {RETRY_MS}\ndata: {self._render()}\n\n".encode())
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if not data:
                    break
                await response.write(f"data: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(queue)
        return response

    def _take(self, record: dict[str, Any]) -> None:
        try:
            self.board.take(record, self.clock())
        except Exception:  # a record the board cannot read must not stop the captions
            logger.exception("captions: cannot show record %s", record.get("event"))
        self._publish()

    def _render(self) -> str:
        return json.dumps(self.board.view(self.clock()), ensure_ascii=False, separators=(",", ":"))

    def _publish(self) -> None:
        """Send the view to every page if it changed; come back when it will change by itself."""
        data = self._render()
        if data != self._last:
            self._last = data
            for queue in self._clients:
                queue.put_nowait(data)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self.clock()
        due = self.board.next_change(now)
        if due is not None and self._loop is not None:
            self._timer = self._loop.call_later(max(0.0, due - now) + 0.001, self._publish)
