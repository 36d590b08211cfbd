"""The transport of ``modelyard serve``'s HTTP protocol: one write per event-loop callback."""

from __future__ import annotations

import asyncio
from typing import Any

from modelyard.serving._protocol import CoalescingTransport


class Recording(asyncio.Transport):
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


def coalescing() -> tuple[CoalescingTransport, Recording]:
    inner = Recording()
    return CoalescingTransport(inner, asyncio.get_running_loop()), inner


def test_writes_of_one_callback_go_out_as_one_write_after_it() -> None:
    async def scenario() -> None:
        transport, inner = coalescing()
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"")
        transport.write(memoryview(b"body"))
        assert inner.calls == []
        assert transport.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert inner.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]
        transport.writelines([b"next", b" one"])
        await asyncio.sleep(0)
        assert inner.calls[1:] == [("write", b"next one")]

    asyncio.run(scenario())


def test_close_and_write_eof_write_what_is_held_first() -> None:
    async def scenario() -> None:
        transport, inner = coalescing()
        transport.write(b"last words")
        transport.write_eof()
        transport.close()
        await asyncio.sleep(0)
        assert inner.calls == [("write", b"last words"), ("write_eof", None), ("close", None)]

    asyncio.run(scenario())


def test_abort_and_a_closed_peer_drop_what_is_held() -> None:
    async def scenario() -> None:
        transport, inner = coalescing()
        transport.write(b"dropped")
        transport.abort()
        await asyncio.sleep(0)
        other, gone = coalescing()
        other.write(b"too late")
        gone.closing = True  # closed under it, as when the peer resets the connection
        await asyncio.sleep(0)
        assert inner.calls == [("abort", None)] and gone.calls == []

    asyncio.run(scenario())
