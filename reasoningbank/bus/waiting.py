"""Waiting on a session's event history: shared by the CPython and the browser clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .errors import LocalBusError
from .events import BusEvent

__all__ = ["EventHistory"]


class EventHistory:
    """``events`` (everything the session reported, in order) plus ``wait_for``.

    Subclasses append to ``events`` and ``notify_all`` on ``_cond`` under the lock, set
    ``closed`` when the session ends, and say why in ``_closed_reason``.
    """

    events: list[BusEvent]
    closed: bool
    _cond: asyncio.Condition

    def _closed_reason(self) -> str:
        """Why the session ended, for a one-line error: the close reason when there is one."""
        last = self.events[-1] if self.events else None
        reason = getattr(last, "reason", "")
        if reason:
            return f"{'the hub' if getattr(last, 'by_peer', False) else 'this side'} said: {reason}"
        return repr(last) if last is not None else "no reason given"

    async def wait_for(
        self, predicate: Callable[[BusEvent], bool], timeout: float = 10.0, start: int = 0
    ) -> BusEvent:
        """First event (from index ``start`` of ``events``) matching ``predicate``."""

        def found() -> BusEvent | None:
            for ev in self.events[start:]:
                if predicate(ev):
                    return ev
            return None

        async def wait() -> BusEvent:
            async with self._cond:
                while (ev := found()) is None:
                    if self.closed:
                        raise LocalBusError(f"session closed: {self._closed_reason()}")
                    await self._cond.wait()
                return ev

        return await asyncio.wait_for(wait(), timeout)
