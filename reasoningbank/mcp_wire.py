"""The MCP server's wire: every malformed or hostile message gets a JSON-RPC error.

Why not the SDK's transports alone: its stdio transport drops a line it cannot parse without a
word (the client waits forever), turns bad UTF-8 into U+FFFD and reads lines of any size and
depth; its HTTP transport accepts NaN. Here one check, ``read_message``, sees every message
first on both transports, so both answer the same way:

* ``-32700`` parse error: not UTF-8, not JSON, or a NaN/Infinity literal;
* ``-32600`` invalid request: larger than ``MAX_MESSAGE_BYTES``, deeper than
  ``MAX_MESSAGE_DEPTH``, not one JSON-RPC 2.0 object (batches included);
* ``-32602`` invalid params: ``params`` that is not an object.

The error carries the request's ``id`` when one could be read, else ``null``; the message is
one line. Only this module touches the process's standard streams.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import ReasoningBankError

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_DEPTH",
    "CheckedBodies",
    "LineSplitter",
    "MessageError",
    "read_message",
    "serve_stdio",
]

#: Bytes in one JSON-RPC message (a stdio line or an HTTP body); past it: a JSON-RPC error.
MAX_MESSAGE_BYTES = 1 << 20
#: Nesting of arrays and objects in one message; past it: a JSON-RPC error.
MAX_MESSAGE_DEPTH = 64
_TOO_LARGE = f"message is larger than {MAX_MESSAGE_BYTES} bytes"

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


class MessageError(ReasoningBankError):
    """A message the server cannot serve: answered with a JSON-RPC error, never dropped."""

    def __init__(self, code: int, message: str, request_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


def _refuse_constant(name: str) -> None:
    raise MessageError(PARSE_ERROR, f"Parse error: {name} is not JSON")


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_MESSAGE_DEPTH:
                return True
            stack.extend(
                (v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return False


def _request_id(value: Any) -> str | int | None:
    rid = value.get("id") if isinstance(value, dict) else None
    return rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None


def read_message(line: bytes) -> dict[str, Any]:
    """One JSON-RPC message object from one line of bytes; raises ``MessageError``.

    Why before the SDK: its stdio transport drops a line it cannot parse without a word,
    turns bad UTF-8 into U+FFFD and accepts NaN, any size and any depth.
    """
    if len(line) > MAX_MESSAGE_BYTES:
        raise MessageError(INVALID_REQUEST, _TOO_LARGE)
    try:
        value = json.loads(line.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise MessageError(PARSE_ERROR, f"Parse error: not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise MessageError(
            INVALID_REQUEST, f"message nests deeper than {MAX_MESSAGE_DEPTH} levels"
        ) from None
    except ValueError as exc:
        raise MessageError(PARSE_ERROR, f"Parse error: not JSON ({exc})") from None
    rid = _request_id(value)
    if _too_deep(value):
        raise MessageError(
            INVALID_REQUEST, f"message nests deeper than {MAX_MESSAGE_DEPTH} levels", rid
        )
    if isinstance(value, list):
        raise MessageError(INVALID_REQUEST, "batches are not supported: one message per line")
    if not isinstance(value, dict):
        raise MessageError(INVALID_REQUEST, "a message must be a JSON object")
    if value.get("jsonrpc") != "2.0":
        raise MessageError(INVALID_REQUEST, 'a message needs "jsonrpc": "2.0"', rid)
    if "method" in value and not isinstance(value["method"], str):
        raise MessageError(INVALID_REQUEST, "method must be a string", rid)
    if value.get("params") is not None and not isinstance(value["params"], dict):
        raise MessageError(INVALID_PARAMS, "params must be an object", rid)
    return value


class LineSplitter:
    """Bytes in, lines out (sans-IO). A line longer than ``MAX_MESSAGE_BYTES`` is dropped to
    its end and yields ``None`` once, so memory stays bounded and the sender still hears."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete lines in ``data`` (``b""`` means end of input: the rest is a line)."""
        if not data:
            rest, self._buffer = bytes(self._buffer), bytearray()
            return [] if self._skipping or not rest.strip() else [rest]
        self._buffer += data
        out: list[bytes | None] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if not self._skipping and line.strip():
                out.append(line)
            self._skipping = False
        if len(self._buffer) > MAX_MESSAGE_BYTES:
            if not self._skipping:
                out.append(None)
            self._skipping = True
            self._buffer.clear()
        return out


async def serve_stdio(server: Any, types: Any) -> None:
    """Serve the SDK ``server`` on stdin/stdout (``types``: the SDK's ``mcp.types``),
    answering every line it cannot serve.

    Stray output of the process goes to stderr (fd 1 points there while serving), so nothing
    but protocol reaches the client.
    """
    import anyio
    from mcp.shared.message import SessionMessage
    from pydantic import ValidationError

    wire = os.dup(1)
    os.dup2(2, 1)
    to_server, server_in = anyio.create_memory_object_stream[Any](0)
    server_out, to_client = anyio.create_memory_object_stream[Any](0)

    def answer(exc: MessageError) -> Any:
        error = types.ErrorData(code=exc.code, message=str(exc))
        return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=exc.request_id, error=error))

    async def read() -> None:
        lines = LineSplitter()
        async with to_server, server_out.clone() as answers:
            while True:
                data = await anyio.to_thread.run_sync(os.read, 0, 1 << 16, abandon_on_cancel=True)
                for line in lines.feed(data):
                    try:
                        if line is None:
                            raise MessageError(INVALID_REQUEST, _TOO_LARGE)
                        value = read_message(line)
                        try:
                            message = types.jsonrpc_message_adapter.validate_python(value)
                        except ValidationError as exc:
                            first = exc.errors()[0]
                            where = ".".join(str(part) for part in first["loc"])
                            raise MessageError(
                                INVALID_REQUEST,
                                f"not a JSON-RPC message ({where}: {first['msg']})",
                                _request_id(value),
                            ) from None
                    except MessageError as exc:
                        await answers.send(answer(exc))
                    else:
                        await to_server.send(SessionMessage(message))
                if not data:
                    return

    async def write() -> None:
        async with to_client:
            async for item in to_client:
                text = item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                await anyio.to_thread.run_sync(_write_all, wire, text.encode())

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read)
            tasks.start_soon(write)
            async with server_out:
                await server.run(server_in, server_out, server.create_initialization_options())
    finally:
        os.dup2(wire, 1)
        os.close(wire)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class CheckedBodies:
    """ASGI wrapper of the SDK's HTTP app: each POSTed body passes ``read_message`` first,
    and a refused one is answered with a JSON-RPC error (413 past the size bound, else 400)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        try:
            declared = dict(scope["headers"]).get(b"content-length", b"0")
            if int(declared) > MAX_MESSAGE_BYTES:
                raise MessageError(INVALID_REQUEST, _TOO_LARGE)
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                if len(body) > MAX_MESSAGE_BYTES:
                    raise MessageError(INVALID_REQUEST, _TOO_LARGE)
                if not message.get("more_body"):
                    break
            read_message(bytes(body))
        except MessageError as exc:
            await _send_error(send, 413 if str(exc) == _TOO_LARGE else 400, exc)
            return
        except ValueError:  # a Content-Length that is not a number
            await _send_error(send, 400, MessageError(INVALID_REQUEST, "bad Content-Length"))
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _send_error(send: Any, status: int, exc: MessageError) -> None:
    error = {"code": exc.code, "message": str(exc)}
    body = json.dumps({"jsonrpc": "2.0", "id": exc.request_id, "error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
