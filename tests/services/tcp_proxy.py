"""A TCP proxy in front of a broker that can take the broker "down" and bring it back, for outage tests.

    with OutageProxy("127.0.0.1", broker_port) as proxy:   # clients connect to proxy.address
        proxy.down()   # every connection is reset, new ones are refused ...
        proxy.up()     # ... until they are accepted again

To a client this is a broker restart: its connections drop, reconnects fail until the listener is back on
the same address, and then it finds the broker's state as it was (the broker process itself keeps running,
so its durable and in-memory state survive, as a durable broker's would). It is used where the real broker
cannot be restarted: tansu keeps nothing across a restart without object storage, and the machine's RabbitMQ
is shared by every test. A Kafka broker behind it must advertise `proxy.address` (`start_tansu(advertise=)`).
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.services.victoria import free_port


class OutageProxy:
    def __init__(self, upstream_host: str, upstream_port: int, port: int | None = None) -> None:
        self._upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self.outages = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> OutageProxy:
        self._listen()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._drop_all()

    def down(self) -> int:
        """Reset every connection and refuse new ones (until `up`); returns how many client connections were
        open, and so reset, at that moment."""
        self.outages += 1
        return self._drop_all()

    def up(self) -> None:
        """Listen again on the same port."""
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="proxy-accept").start()

    def _drop_all(self) -> int:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed = [*self._sockets, *([listener] if listener else [])]
            clients = len(self._sockets) // 2  # each client connection is a pair: client and upstream socket
            self._sockets.clear()
        for sock in doomed:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: the peer sees a reset, as from a broker process that went away
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        return clients

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: an outage, or the end
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener or self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True, name="proxy-pump").start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass  # dropped by an outage, or the peer went away
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
