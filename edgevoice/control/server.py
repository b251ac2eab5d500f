"""The daemon's side of the control socket: one thread, many clients, none of them trusted.

A selector serves every connection on one thread (a kiosk's service may run few tasks): a client
gets ``READ_TIMEOUT_S`` to send its line, a line longer than ``MAX_LINE`` is refused, bad JSON is
answered with an error, and beyond ``MAX_CLIENTS`` at once a newcomer is told ``busy``. The reply
to a request may take a while (``say`` waits for the assistant's loop, ``reload`` for the config
to be applied): the handler returns a :class:`concurrent.futures.Future` and the thread writes
the reply when it is done, serving the other clients meanwhile.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.control import protocol as P

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 5.0  # a client that connects and never writes is dropped after this
REPLY_TIMEOUT_S = 30.0  # longest wait for a deferred reply (say, mute, reload)
MAX_CLIENTS = 32
SOCKET_MODE = 0o660

Handler = Callable[[P.Request], "dict[str, Any] | Future[dict[str, Any]]"]


class CommandRefused(Exception):
    """A handler's answer that the command was not carried out: an error reply with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ControlSocketError(RuntimeError):
    """The control socket cannot be created; the message says where and why."""


@dataclass
class _Client:
    sock: socket.socket
    deadline: float
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    pending: Future[dict[str, Any]] | None = None
    pending_id: str | int | None = None
    pending_cmd: str = ""
    watched: int = 0  # the selector events registered for it (0: not registered)


class ControlServer:
    """A Unix socket at ``path`` (mode 0660, group ``group``) answering control requests with ``handler``."""

    def __init__(self, path: str | Path, handler: Handler, *, group: str = "",
                 read_timeout_s: float = READ_TIMEOUT_S, reply_timeout_s: float = REPLY_TIMEOUT_S,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.path = Path(path)
        self.handler = handler
        self.group = group
        self.read_timeout_s = read_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.max_clients = max_clients
        self.served = 0  # requests answered (tests and status)
        self._listener = self._bind()  # first: a socket that cannot be made leaves nothing open
        self._selector = selectors.DefaultSelector()
        self._clients: dict[int, _Client] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipe_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    # --- the socket file ----------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        path = self.path
        if not path.parent.is_dir():
            raise ControlSocketError(f"control socket {str(path)!r}: directory {str(path.parent)!r} does not exist "
                                     "(the service's RuntimeDirectory= creates /run/edgevoice)")
        self._remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        try:
            old = os.umask(0o177)  # never world-accessible, not even between bind() and chmod()
            try:
                sock.bind(str(path))
            finally:
                os.umask(old)
            self._set_group(path)
            os.chmod(path, SOCKET_MODE)
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise ControlSocketError(f"control socket {str(path)!r}: {exc.strerror or exc}") from None
        return sock

    @staticmethod
    def _remove_stale(path: Path) -> None:
        """A socket file left by a daemon that died is removed; one a live daemon listens on is not."""
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlSocketError(f"control socket {str(path)!r}: a file that is not a socket is in the way")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise ControlSocketError(f"control socket {str(path)!r}: {exc.strerror or exc}") from None
            path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise ControlSocketError(f"control socket {str(path)!r}: another edgevoice daemon is listening on it")

    def _set_group(self, path: Path) -> None:
        if not self.group:
            return
        try:
            gid = grp.getgrnam(self.group).gr_gid
        except KeyError:
            logger.warning("control socket: group %r does not exist (`edgevoice install-service` creates it); "
                           "only this daemon's own group may use %s", self.group, path)
            return
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            logger.warning("control socket: cannot give %s to group %r: the daemon is not a member of it "
                           "(SupplementaryGroups= in the unit)", path, self.group)

    # --- running ------------------------------------------------------------------------------

    def start(self) -> ControlServer:
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()
        logger.info("control socket at %s", self.path)
        return self

    def _wake(self) -> None:
        """Interrupt the selector's wait (any thread)."""
        with self._pipe_lock:  # never a write to a descriptor number close() gave back
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:  # the pipe is full: it wakes anyway
                pass

    def close(self) -> None:
        """Stop serving and remove the socket file."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for client in list(self._clients.values()):
            self._drop(client)
        self._listener.close()
        self._selector.close()
        with self._pipe_lock:
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1
        try:
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        except OSError:
            pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready = self._selector.select(timeout=self._next_timeout())
                for key, events in ready:
                    if key.data == "wake":
                        os.read(self._wake_r, 4096)
                    elif key.data is None:
                        self._accept()
                    else:
                        self._service(key.data, events)
                self._housekeeping()
            except Exception:  # a bug must not take the socket down for good
                logger.exception("control socket: unexpected error; carrying on")

    def _next_timeout(self) -> float | None:
        """Until the next client's deadline; with no client, until something happens (no idle wake-ups)."""
        if not self._clients:
            return None
        return max(0.0, min(c.deadline for c in self._clients.values()) - time.monotonic())

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say: the clients already here go on
                logger.warning("control socket: cannot accept a connection: %s", exc.strerror or exc)
                return
            sock.setblocking(False)
            client = _Client(sock, time.monotonic() + self.read_timeout_s)
            if len(self._clients) >= self.max_clients:
                client.outbox += P.encode_reply(P.error_reply("busy", f"more than {self.max_clients} clients at once; "
                                                              "try again"))
                client.deadline = time.monotonic() + 1.0
            self._clients[sock.fileno()] = client
            self._watch(client, selectors.EVENT_WRITE if client.outbox else selectors.EVENT_READ)

    def _watch(self, client: _Client, events: int) -> None:
        """Have the selector report ``events`` for the client (0: nothing, while its reply is pending)."""
        if events == client.watched:
            return
        if not events:
            self._selector.unregister(client.sock)
        elif not client.watched:
            self._selector.register(client.sock, events, client)
        else:
            self._selector.modify(client.sock, events, client)
        client.watched = events

    def _service(self, client: _Client, events: int) -> None:
        if events & selectors.EVENT_WRITE and client.outbox:
            self._write(client)
            return
        if events & selectors.EVENT_READ and client.pending is None and not client.outbox:
            self._read(client)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(P.MAX_LINE + 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(client)
            return
        if not data:  # the client went away before sending a whole line
            self._drop(client)
            return
        client.inbox += data
        end = client.inbox.find(b"\n")
        if end < 0 and len(client.inbox) > P.MAX_LINE:
            self._reply(client, P.error_reply("line_too_long", f"a request is at most {P.MAX_LINE} bytes"))
        elif end >= 0:
            self._request(client, bytes(client.inbox[: end + 1]))

    def _request(self, client: _Client, line: bytes) -> None:
        parsed = P.parse_request(line)
        if isinstance(parsed, P.ProtocolError):
            self._reply(client, P.error_reply(parsed.code, parsed.message, parsed.id))
            return
        try:
            answer = self.handler(parsed)
        except CommandRefused as exc:
            self._reply(client, P.error_reply(exc.code, exc.message, parsed.id))
            return
        except Exception as exc:
            logger.exception("control: %s failed", parsed.cmd)
            self._reply(client, P.error_reply("failed", f"{parsed.cmd} failed: {exc}", parsed.id))
            return
        if isinstance(answer, Future):
            client.pending, client.pending_id, client.pending_cmd = answer, parsed.id, parsed.cmd
            client.deadline = time.monotonic() + self.reply_timeout_s
            self._watch(client, 0)  # more input, or the client hanging up, waits for the reply
            answer.add_done_callback(lambda _: self._wake())  # the reply goes out at once, not at the next tick
        else:
            self._reply(client, P.ok_reply(parsed.cmd, answer, parsed.id))

    def _reply(self, client: _Client, reply: dict[str, Any]) -> None:
        client.pending = None
        client.outbox += P.encode_reply(reply)
        client.deadline = time.monotonic() + self.read_timeout_s  # a client that never reads is dropped too
        self.served += 1
        self._write(client)

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(client)
            return
        del client.outbox[:sent]
        if not client.outbox:
            self._drop(client)  # one request, one reply
        else:
            self._watch(client, selectors.EVENT_WRITE)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        for client in list(self._clients.values()):
            if client.pending is not None and client.pending.done():
                try:
                    body = client.pending.result()
                except CommandRefused as exc:
                    reply = P.error_reply(exc.code, exc.message, client.pending_id)
                except Exception as exc:
                    reply = P.error_reply("failed", f"{client.pending_cmd} failed: {exc}", client.pending_id)
                else:
                    reply = P.ok_reply(client.pending_cmd, body, client.pending_id)
                self._reply(client, reply)
            elif now > client.deadline:
                if client.pending is not None:
                    self._reply(client, P.error_reply("busy", f"the assistant did not answer within "
                                                      f"{self.reply_timeout_s:g} s", client.pending_id))
                elif client.outbox:
                    self._drop(client)  # it never read its reply
                else:
                    self._reply(client, P.error_reply("timeout", f"no complete request line within "
                                                      f"{self.read_timeout_s:g} s"))

    def _drop(self, client: _Client) -> None:
        fd = client.sock.fileno()
        if fd >= 0:
            self._clients.pop(fd, None)
            if client.watched:
                self._selector.unregister(client.sock)
                client.watched = 0
        client.sock.close()
