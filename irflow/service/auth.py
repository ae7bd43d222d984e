"""Who a request acts as: the organisation of its bearer token's account, proven.

Nothing in a request can name another organisation, and no request acts as the
administrator. A client address whose tokens keep failing is slowed down: after
``FailureLimit.limit`` failures in a minute, every token from it is refused with 429
until the minute has passed (a request with no token at all does not count: it
guesses nothing).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# Imported at run time: FastAPI reads the routes' annotations to wire their dependencies.
from irflow.engine.accounts import Principal
from irflow.engine.facade import Engine
from irflow.errors import NotAllowed, Unauthenticated


class FailureLimit:
    """Failed authentications per client address, in a sliding window.

    Memory is bounded: at most ``addresses`` addresses are remembered, the ones
    that failed longest ago forgotten first.
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        *,
        addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.addresses = addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if it may now."""
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return None
            now = self.clock()
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if len(failures) < self.limit:
                return None
            return max(1, int(failures[0] + self.window - now + 0.999))

    def failed(self, address: str) -> None:
        with self._lock:
            failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
            failures.append(self.clock())
            self._failures[address] = failures
            while len(self._failures) > self.addresses:
                self._failures.popitem(last=False)


bearer = HTTPBearer(
    auto_error=False,
    description="A token of an account: `irflow token create LOGIN`.",
)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The account a request's bearer token proves; 401 without one that is live."""
    if credentials is None:
        raise Unauthenticated(
            "this request needs a token: send the header 'Authorization: Bearer TOKEN' "
            "(an administrator makes one with `irflow token create LOGIN`)"
        )
    address = request.client.host if request.client is not None else "unknown"
    limit: FailureLimit = request.app.state.failures
    wait = limit.retry_after(address)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many failed authentications from {address}; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        who = engine_of(request).accounts.authenticate(credentials.credentials, address=address)
    except Unauthenticated:
        limit.failed(address)
        raise
    request.state.org = who.org_id
    return who


def writer(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The account, if its token may write: a read-only token may only read."""
    if who.read_only:
        raise NotAllowed(
            f"token {who.token_id} of {who.login} is read-only: it may read but not write; "
            "use a token made without --read-only"
        )
    return who


Reader = Annotated[Principal, Depends(principal)]
Writer = Annotated[Principal, Depends(writer)]
EngineDep = Annotated[Engine, Depends(engine_of)]
