"""The user's LLM: any callable ``prompt -> str``, sync or async, plus two adapters.

``call_llm`` is the one place the loop calls an LLM: it awaits what needs awaiting (a
coroutine, or under Pyodide the Promise a JS function returns) and turns every failure into
an ``LLMError``. The adapters hold what they need (a command, an endpoint and maybe a key) in
a closure: the bank never sees a key, so it can never store one.
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .. import runtime
from ..errors import LLMCallFailed, LLMError

__all__ = ["LLM", "call_llm", "command_llm", "llm_model_name", "openai_chat"]

LLM = Callable[[str], str | Awaitable[str]]

#: Largest answer read from an LLM (characters); items are short, so more is a runaway.
MAX_ANSWER_CHARS = 100_000


async def call_llm(llm: Any, prompt: str) -> str:
    """Ask ``llm`` and return its answer as text; failures become ``LLMCallFailed``."""
    try:
        answer = llm(prompt)
        if inspect.isawaitable(answer):
            answer = await answer
    except LLMError:
        raise
    except Exception as exc:  # the user's callable may raise anything; name it in one line
        raise LLMCallFailed(f"the LLM call failed: {type(exc).__name__}: {exc}") from exc
    if answer is None:
        raise LLMCallFailed("the LLM returned nothing")
    if not isinstance(answer, str):
        answer = str(answer)  # a JsProxy of a JS string, or any object with a text form
    return answer[:MAX_ANSWER_CHARS]


def llm_model_name(llm: Any) -> str | None:
    """The model name an adapter carries (``.model``), for the items' provenance."""
    name = getattr(llm, "model", None)
    return name if isinstance(name, str) and name else None


def command_llm(cmd: str | Sequence[str], *, timeout: float = 300.0) -> LLM:
    """An LLM that runs ``cmd`` per prompt: the prompt on stdin, the answer on stdout.

    ``cmd`` is split like a shell command line (no shell runs it). A non-zero exit or a
    timeout (seconds) raises ``LLMCallFailed`` with the command's last stderr line.
    CPython only (it starts a subprocess).
    """
    argv = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
    if not argv:
        raise LLMCallFailed("the LLM command is empty")

    async def ask(prompt: str) -> str:
        import asyncio

        if runtime.is_pyodide():
            raise LLMCallFailed("command_llm needs CPython; in a browser pass a JS function")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise LLMCallFailed(f"cannot run LLM command {argv[0]!r}: {exc.strerror}") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(prompt.encode("utf-8")), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise LLMCallFailed(f"LLM command {argv[0]!r} timed out after {timeout:g}s") from None
        if proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            why = f": {lines[-1][:200]}" if lines else ""
            raise LLMCallFailed(f"LLM command {argv[0]!r} exited with {proc.returncode}{why}")
        return out.decode("utf-8", "replace")

    return ask


class _OpenAIChat:
    """An OpenAI-compatible ``/chat/completions`` client (httpx under CPython, fetch under
    Pyodide). The key lives only in this object; ``repr`` never shows it."""

    def __init__(
        self, base_url: str, model: str, api_key: str | None, timeout: float, temperature: float
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self._timeout = timeout
        self._temperature = temperature

    def __repr__(self) -> str:
        return f"openai_chat({self.url!r}, model={self.model!r})"

    async def __call__(self, prompt: str) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self._temperature,
        }
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        if runtime.is_pyodide():
            status, text = await _fetch(self.url, body, headers)
        else:
            status, text = await _httpx_post(self.url, body, headers, self._timeout)
        if status != 200:
            raise LLMCallFailed(f"LLM endpoint {self.url} answered HTTP {status}: {text[:200]}")
        try:
            return str(json.loads(text)["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMCallFailed(
                f"LLM endpoint {self.url} gave no choices[0].message.content"
            ) from exc


def openai_chat(
    base_url: str,
    model: str,
    api_key: str | None = None,
    *,
    timeout: float = 120.0,
    temperature: float = 0.0,
) -> LLM:
    """An LLM over an OpenAI-compatible chat endpoint (``base_url`` like
    ``http://localhost:8080/v1``). Needs httpx under CPython (the ``llm`` extra)."""
    return _OpenAIChat(base_url, model, api_key, timeout, temperature)


async def _httpx_post(
    url: str, body: dict[str, Any], headers: dict[str, str], timeout: float
) -> tuple[int, str]:
    try:
        import httpx
    except ImportError as exc:
        raise LLMCallFailed("openai_chat needs httpx: pip install 'reasoningbank[llm]'") from exc
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise LLMCallFailed(f"LLM endpoint {url} failed: {type(exc).__name__}: {exc}") from exc
    return resp.status_code, resp.text


async def _fetch(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    from pyodide.http import pyfetch  # type: ignore[import-not-found]

    try:
        resp = await pyfetch(url, method="POST", headers=headers, body=json.dumps(body))
        return int(resp.status), str(await resp.string())
    except Exception as exc:  # a JsException from fetch (network, CORS)
        raise LLMCallFailed(f"LLM endpoint {url} failed: {exc}") from exc
