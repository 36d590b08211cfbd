"""The echo server of ``benchmarks/serving.py``: the load generator's ceiling on this machine.

A raw ASGI app (no framework) that reads the request body and sends it back, run under
uvicorn with httptools and uvloop, one process, as the other servers are.
"""

from __future__ import annotations

from typing import Any

HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"  # run with --lifespan off
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
