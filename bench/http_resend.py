"""Robustness facts of the HTTP client candidates, on real sockets (not a speed bench).

For each library in bench/_http_candidates.py this asks a small threaded HTTP/1.1 server on
127.0.0.1 the questions that matter for a single-use login code, and prints one table:

- drop, reused: request 1 is answered (keep-alive); request 2 is read in full by the server,
  which then closes the connection without answering. How many times did the server see
  request 2 (2 = the library re-sent it by itself), and what did the caller get?
- drop, fresh: the same on a connection that served nothing before.
- idle close: request 1 is answered and the server then closes that connection while it sits
  idle in the client's pool; request 2 is sent only after the server has closed it. A good
  client opens a new connection, and the server sees request 2 once.
- refused / deadline: what a refused connect and a total deadline (the server reads the
  request and never answers) raise, which is what ``request_sent`` must be derived from.

Usage: ``python bench/http_resend.py [--libraries ...]``. Every wait is bounded (1 s deadline,
5 s joins); the server thread stops with the script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import _http_candidates as candidates

DEADLINE_S = 1.0


class ScriptedServer:
    """Threaded HTTP/1.1 server; what it does is chosen by the request path.

    ``/ok`` answers (keep-alive), ``/drop`` reads the request and closes, ``/idle-close``
    answers and then closes the connection, ``/silent`` reads and never answers.
    """

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.closed = threading.Event()  # set when an /idle-close connection is closed
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                path = head.split(b" ")[1].split(b"?")[0].decode()
                with self._lock:
                    self.seen[path] += 1
                if path in ("/drop", "/silent"):
                    if path == "/silent":
                        conn.recv(1)  # until the client gives up and closes
                    return
                body = b'{"openid":"o1","session_key":"k"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                if path == "/idle-close":
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                    self.closed.set()
                    return

    def close(self) -> None:
        self._listener.close()


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    sent = getattr(exc, "request_sent", None)  # wxlogin's own errors say it
    return type(exc).__name__ + ("" if sent is None else f"(sent={sent})")


async def _try(client: candidates.BenchClient, path: str) -> BaseException | None:
    try:
        await client.get(path, {"js_code": "x"})
    except Exception as exc:
        return exc
    return None


async def probe(name: str) -> dict[str, str]:
    module_name, _, factory = candidates.CANDIDATES[name]
    mod = importlib.import_module(module_name)
    candidates.TIMEOUT_S = DEADLINE_S
    facts: dict[str, str] = {}
    for case in ("drop, reused", "drop, fresh", "idle close"):
        server = ScriptedServer()
        client = factory(mod, f"http://127.0.0.1:{server.port}", 1)  # pool of ONE connection
        try:
            if case != "drop, fresh":
                first = "/idle-close" if case == "idle close" else "/ok"
                assert await _try(client, first) is None, f"{name}: first request failed"
            if case == "idle close":
                # Bounded wait in a thread: the event loop keeps running meanwhile.
                closed = await asyncio.to_thread(server.closed.wait, 5.0)
                assert closed, "server did not close"
                exc = await _try(client, "/ok")
                facts[case] = f"{_outcome(exc)}, seen {server.seen['/ok']}"
            else:
                exc = await _try(client, "/drop")
                facts[case] = f"{_outcome(exc)}, seen {server.seen['/drop']}"
        finally:
            await client.aclose()
            server.close()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    client = factory(mod, f"http://127.0.0.1:{free}", 1)
    try:
        facts["refused"] = _outcome(await _try(client, "/ok"))
    finally:
        await client.aclose()
    server = ScriptedServer()
    client = factory(mod, f"http://127.0.0.1:{server.port}", 1)
    try:
        facts["deadline"] = _outcome(await _try(client, "/silent"))
    finally:
        await client.aclose()
        server.close()
    return facts


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Some libraries log every dropped connection to stderr; keep the table readable."""
    saved = sys.stderr
    with open("/dev/null", "w") as devnull:
        sys.stderr = devnull
        try:
            yield
        finally:
            sys.stderr = saved


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--libraries", nargs="+", default=list(candidates.CANDIDATES))
    args = p.parse_args()
    cases = ("drop, reused", "drop, fresh", "idle close", "refused", "deadline")
    print("| library | " + " | ".join(cases) + " |")
    print("|---" * (len(cases) + 1) + "|")
    for name in args.libraries:
        try:
            with _quiet():
                facts = asyncio.run(asyncio.wait_for(probe(name), 60))
        except ImportError as exc:
            print(f"| {name} | skipped ({exc}) |")
            continue
        except TimeoutError:  # e.g. a client with no deadline of its own waits forever
            print(f"| {name} | hung: no answer within 60 s |")
            continue
        print(f"| {name} | " + " | ".join(facts.get(c, "?") for c in cases) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
