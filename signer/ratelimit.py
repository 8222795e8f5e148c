"""Rate limits per remote address (before anything else) and per registered hotkey.

A hotkey's quota is spent only by requests whose signature verifies and whose hotkey the
metagraph shows in the role the endpoint serves: nobody can use up a miner's quota by sending
requests in its name with a bad signature, and free key pairs that sign correctly but are not
registered leave no counter behind (the per-address limit still applies to them), so the
counters stay bounded by the subnet's size.

Each limit check is one atomic call to the counters: every window of the limit
(`10/minute;200/day`) is counted together, the shortest first, stopping at the first window
the request passes (a request refused by the minute does not count against the day). In
Redis that call is one Lua script, one round trip; in memory, one lock. Checking first and
counting after the answer would let concurrent requests, in several workers or instances
sharing a Redis, all pass the check before any is counted.

A credential request makes one such call, not two: on the views that spend a hotkey's quota
the address is counted in the quota's call, its windows first (over them, the hotkey is not
counted), and an answer such a view gives before its quota (a refused body or role, or,
in memory, a refused signature) counts the address on its way out, becoming a 429 if the
address is over its limit. Every request is counted once against its address and gets the
answer counting first gave.

That call is made while the signature is verified, not after (HotkeyQuota.counting): once
the hotkey's role is known, the call is sent to Redis, the signature is verified during the
round trip, and the answer is read after. A worker that waited for Redis doing nothing
handed its core to another process and came back to cold caches, the largest cost of a
credential request with shared limits (bench/RESULTS.md). A request whose signature then
fails gives its hotkey's counts back (its address's stay counted) and gets the answer it got
before; only while its signature is checked, tens of microseconds, does its count stand, so
a concurrent request of the same hotkey sees one more. A header-signed request's nonce
(signer/taoauth.py) is counted in that same call, and given back with the hotkey's counts.
The in-process counters, which cost no wait, still count after the signature has verified.

An address refused is remembered in the process until the refusing window ends (a fixed
window's count only grows until then), so its next requests are answered 429 at once,
without a call to the counters or reading their body.

The `limits` library's storages are used directly. flask-limiter, used before, resolved and
filtered every limit of the app again on each request, a third of a credential request's
time (bench/RESULTS.md). The counters keep the names flask-limiter gave them
(`LIMITER/signer/<address>/global/600/1/minute`, `LIMITER/signer/miner/<hotkey>/10/1/minute`,
under `LIMITS:` in Redis), so running counters carry over an upgrade.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from functools import cache
from typing import Any, NamedTuple, Protocol

from flask import Flask, Response, current_app, g, has_request_context, request
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError
from limits.storage import RedisClusterStorage, RedisStorage, Storage, storage_from_string

from envsettings import refuse_misread_userinfo
from signer.config import ConfigError
from signer.errors import SignerError, error_response, log
from signer.proxy import limit_key

KEY_PREFIX = "signer"
WHO = "{}"
"""Where the counted address or hotkey goes in a counter's name."""
SWEEP_SECONDS = 1.0
"""How often expired counters (and remembered refusals) are dropped, at most."""
DEFERRED = "deferred_address"
"""Where, in `flask.g`, a request's address waits to be counted with its hotkey's quota."""


class Window(NamedTuple):
    """One window of a limit for one key: its counter, its length and what it allows."""

    key: str
    seconds: int
    amount: int


class Passed(NamedTuple):
    """The first window a request passed (its place in the limit) and the seconds it has left."""

    window: int
    seconds_left: float


Count = Callable[[Sequence[Window]], Passed | None]


class Counting(Protocol):
    """One limit check under way (Limiter.start): started, its answer read later."""

    def result(self) -> Passed | None:
        """The answer: the first window passed, or None when every window let it through."""

    def cancel(self, keep: int) -> Passed | None:
        """The request was refused before its answer mattered: only the first `keep` windows
        count it, the others (and the nonce) give their counts back; the answer of those
        `keep` windows."""

    def replayed(self) -> bool:
        """Whether the nonce counted with this check (Limiter.start) had been counted before;
        once its signature has verified, the request is a replay."""


class CountLater:
    """Counting that counts when the answer is asked for (counters that cost no wait): the
    nonce, if any, when replayed() is asked, after the signature has verified."""

    def __init__(self, count: Count, windows: Sequence[Window], nonce: Window | None) -> None:
        self._count = count
        self._windows = windows
        self._nonce = nonce

    def result(self) -> Passed | None:
        return self._count(self._windows)

    def cancel(self, keep: int) -> Passed | None:
        return self._count(self._windows[:keep]) if keep else None

    def replayed(self) -> bool:
        return self._nonce is not None and self._count([self._nonce]) is not None


# KEYS: the windows' counters, shortest first. ARGV: each window's seconds, then its amount.
# Counted as limits' own incr_expire does (INCR, EXPIRE on the first count).
COUNT_WINDOWS = b"""
for i, key in ipairs(KEYS) do
  local count = redis.call("INCR", key)
  if count == 1 then
    redis.call("EXPIRE", key, ARGV[2 * i - 1])
  end
  if count > tonumber(ARGV[2 * i]) then
    return {i, redis.call("TTL", key)}
  end
end
return {0, 0}
"""

# KEYS[1]: an X-Tao nonce's counter, ARGV[1] its seconds, counted whatever the windows answer
# (its count is returned third: above 1, the nonce was used before). Then the windows as in
# COUNT_WINDOWS, KEYS[2..] and ARGV[2..].
COUNT_NONCE_AND_WINDOWS = b"""
local used = redis.call("INCR", KEYS[1])
if used == 1 then
  redis.call("EXPIRE", KEYS[1], ARGV[1])
end
for i = 2, #KEYS do
  local count = redis.call("INCR", KEYS[i])
  if count == 1 then
    redis.call("EXPIRE", KEYS[i], ARGV[2 * i - 2])
  end
  if count > tonumber(ARGV[2 * i - 1]) then
    return {i - 1, redis.call("TTL", KEYS[i]), used}
  end
end
return {0, 0, used}
"""

# KEYS: counters that counted a request refused afterwards. Each gives one count back if it
# still exists: a counter whose window ended meanwhile is gone, and a DECR would bring it back
# as -1 with no expiry, a counter that never restarts. One given back to zero is deleted: a
# forged request's nonce leaves nothing behind, and a window restarts with its next count.
GIVE_BACK = b"""
for _, key in ipairs(KEYS) do
  if redis.call("EXISTS", key) == 1 and redis.call("DECR", key) <= 0 then
    redis.call("DEL", key)
  end
end
return 0
"""


REDIS_TIMEOUT_SECONDS = 2.0
"""How long a limit check waits for the shared counters before answering 503, unless the
URL says otherwise (`?socket_timeout=`): a hung Redis must not hold every worker."""


class Limiter:
    """The rate-limit counters (a `limits` storage) and the calls that count in them.

    Counters that cannot be reached (a Redis down, restarting or hung) make the request a
    503 `limits_unavailable` with Retry-After: nothing is let through uncounted, and the
    client is told to come back rather than shown an internal error.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._count = _counter(storage)
        # The memory counters cannot fail to answer; an error there is a bug, not a 503.
        self._failures: tuple[type[Exception], ...] = ()
        if not isinstance(storage, SweptMemoryStorage):
            raised = storage.base_exceptions
            self._failures = raised if isinstance(raised, tuple) else (raised,)

    def reachable(self) -> bool:
        """Whether the counters answer now (a PING to Redis; the in-process ones always do):
        without them every counted request is a 503, so the instance is not ready."""
        return not self._failures or bool(self.storage.check())

    def count(self, windows: Sequence[Window]) -> Passed | None:
        """Count one request in each window, shortest first (see _counter)."""
        try:
            return self._count(windows)
        except self._failures as exc:
            raise _unavailable(exc) from None

    def start(self, windows: Sequence[Window], nonce: Window | None = None) -> Counting:
        """Limiter.count, started now and answered later, with a `nonce` counted too if
        given: in Redis the call is sent at once (read it with result() or cancel(), always,
        and soon: until then the counter's connection is held, and another count in the same
        thread would wait for ever); in other counters nothing is counted until then."""
        if not isinstance(self._count, RedisCounter):
            return CountLater(self.count, windows, nonce)
        try:
            return Unavailable503(self._count.start(windows, nonce), self._failures)
        except self._failures as exc:
            raise _unavailable(exc) from None


class Unavailable503:
    """A Counting whose counters' failures are the 503 of Limiter.count."""

    def __init__(self, counting: Counting, failures: tuple[type[Exception], ...]) -> None:
        self._counting = counting
        self._failures = failures

    def result(self) -> Passed | None:
        try:
            return self._counting.result()
        except self._failures as exc:
            raise _unavailable(exc) from None

    def cancel(self, keep: int) -> Passed | None:
        try:
            return self._counting.cancel(keep)
        except self._failures as exc:
            raise _unavailable(exc) from None

    def replayed(self) -> bool:
        try:
            return self._counting.replayed()
        except self._failures as exc:
            raise _unavailable(exc) from None


def _unavailable(exc: Exception) -> SignerError:
    log.warning("the rate-limit counters did not answer (%s); answering 503", type(exc).__name__)
    return SignerError(
        503,
        "limits_unavailable",
        "the rate-limit counters (SIGNER_RATELIMIT_STORAGE) cannot be reached just now; "
        "retry in a few seconds",
        headers={"Retry-After": "5"},
    )


def open_limiter(setting: str) -> Limiter:
    """The counters SIGNER_RATELIMIT_STORAGE names, or a ConfigError saying what is wrong."""
    try:
        refuse_misread_userinfo(setting)
    except ValueError as exc:
        raise ConfigError(f"SIGNER_RATELIMIT_STORAGE {exc}") from None
    uri = storage_uri(setting)
    options: dict[str, Any] = {}
    if uri.startswith(("redis://", "rediss://", "redis+unix://")) and "timeout=" not in uri:
        options = {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        }
    scheme = _scheme(setting)
    try:
        storage = storage_from_string(uri, **options)
    except ConfigurationError:
        # Not limits' message: it quotes the whole URL, password included.
        what = (
            f": {scheme!r} is not a storage this signer can use"
            if scheme
            else " does not start with a storage's scheme (memory://, redis://, rediss://)"
        )
        raise ConfigError(
            f"SIGNER_RATELIMIT_STORAGE{what}: memory://, or redis://host:6379 or rediss://... "
            "(these need the `redis` extra: pip install 'subnet46-epochs[redis]')"
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"SIGNER_RATELIMIT_STORAGE is not a valid {scheme}:// URL: {exc}"
        ) from None
    if not isinstance(storage, Storage):
        raise ConfigError(
            f"SIGNER_RATELIMIT_STORAGE: {setting} is an asynchronous storage; use memory:// "
            "or redis://host:6379"
        )
    return Limiter(storage)


def _scheme(setting: str) -> str | None:
    """The scheme SIGNER_RATELIMIT_STORAGE starts with: the one part of it a message may
    quote (everything before "://" was quoted, and a URL missing a slash, or its scheme,
    then put its password in the log)."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", setting)
    return match.group(1) if match else None


def storage_uri(setting: str) -> str:
    """SIGNER_RATELIMIT_STORAGE as limits reads it: `memory://` is SweptMemoryStorage."""
    return "signer-memory://" if setting.rstrip("/") == "memory:" else setting


def _counter(storage: Storage) -> Count:
    if isinstance(storage, SweptMemoryStorage):
        return storage.count_windows
    if isinstance(storage, RedisStorage) and not isinstance(storage, RedisClusterStorage):
        return RedisCounter(storage)
    # Other limits storages (memcached, a Redis cluster, whose keys may sit on several nodes):
    # one atomic increment per window.
    return lambda windows: _count_each(storage, windows)


class RedisCounter:
    """Limiter.count in Redis: COUNT_WINDOWS, one EVALSHA per limit check.

    The command is packed by hiredis itself and written straight onto a connection the counter
    keeps, taken from the storage's pool when first needed: redis-py's client layer around it (a
    pool checkout and return polling the socket, command dispatch, its retry wrapper, and its
    packing, which checks each argument in Python before handing them all to hiredis) cost more
    than the round trip itself. A call that finds the connection closed (a server restart, an
    idle timeout) reconnects and runs once more; the server had not run it, unless the
    connection broke between its run and the answer, and then the request counts twice, never
    zero times. A server that lost its scripts (a restart, SCRIPT FLUSH) is given the script
    again. A timeout is not retried: a hung server costs one wait, then a 503.

    `start` sends the call and returns with the connection still held for its answer,
    which InFlight reads: the caller works meanwhile (see the module's docstring).
    """

    def __init__(self, storage: RedisStorage) -> None:
        from hiredis import pack_command
        from redis.exceptions import ConnectionError as Disconnected
        from redis.exceptions import NoScriptError

        self.storage = storage
        # Typed for the arguments it takes: hiredis's stub declares a one-item tuple.
        self._pack: Callable[[tuple[Any, ...]], bytes] = pack_command
        self._shas = {
            script: hashlib.sha1(script).hexdigest()
            for script in (COUNT_WINDOWS, COUNT_NONCE_AND_WINDOWS, GIVE_BACK)
        }
        self._disconnected: type[Exception] = Disconnected
        self._no_script: type[Exception] = NoScriptError
        self._lock = threading.Lock()
        self._client: Any = None

    def client(self) -> Any:
        """The counter's own connection (a single-connection redis-py client around it)."""
        if self._client is None:
            shared: Any = self.storage.get_connection()
            self._client = type(shared)(
                connection_pool=shared.connection_pool, single_connection_client=True
            )
        return self._client

    def __call__(self, windows: Sequence[Window]) -> Passed | None:
        return self.start(windows).result()

    def start(self, windows: Sequence[Window], nonce: Window | None = None) -> InFlight:
        """Send COUNT_WINDOWS for `windows` (COUNT_NONCE_AND_WINDOWS with a `nonce`); the
        connection is held until InFlight reads."""
        keys = [self.storage.prefixed_key(w.key) for w in windows]
        args = [value for w in windows for value in (w.seconds, w.amount)]
        if nonce is None:
            return InFlight(self, windows, COUNT_WINDOWS, self._evalsha(COUNT_WINDOWS, keys, args))
        script = COUNT_NONCE_AND_WINDOWS
        keys.insert(0, self.storage.prefixed_key(nonce.key))
        args.insert(0, nonce.seconds)
        return InFlight(self, windows, script, self._evalsha(script, keys, args), nonce)

    def answer(self, command: Any, script: bytes) -> Any:
        """The answer to `command` (an EVALSHA of `script`), sent already; sent again on a
        dropped connection or to a server without the script. Releases the connection,
        whatever happens."""
        connection = self.client().connection
        try:
            try:
                return self._read(connection, command, script)
            except self._disconnected:
                connection.disconnect()
                self._send(command)
                return self._read(connection, command, script)
        finally:
            self._lock.release()

    def give_back(self, windows: Sequence[Window]) -> None:
        """One count back to each of `windows` that still exists (GIVE_BACK)."""
        keys = [self.storage.prefixed_key(w.key) for w in windows]
        self.answer(self._evalsha(GIVE_BACK, keys, []), GIVE_BACK)

    def _evalsha(self, script: bytes, keys: list[str], args: list[int]) -> Any:
        """Take the connection and send an EVALSHA of `script`; `answer` reads it and
        releases the connection (released here if sending fails)."""
        self._lock.acquire()
        try:
            command = [self._pack(("EVALSHA", self._shas[script], len(keys), *keys, *args))]
            self._send(command)
        except BaseException:
            self._lock.release()
            raise
        return command

    def _send(self, command: Any) -> None:
        connection = self.client().connection
        try:
            connection.send_packed_command(command, check_health=False)
        except self._disconnected:
            connection.disconnect()
            connection.send_packed_command(command, check_health=False)

    def _read(self, connection: Any, command: Any, script: bytes) -> Any:
        try:
            return connection.read_response()
        except self._no_script:
            self._client.script_load(script)
            connection.send_packed_command(command, check_health=False)
            return connection.read_response()


class InFlight:
    """A COUNT_WINDOWS (or COUNT_NONCE_AND_WINDOWS) call sent to Redis (RedisCounter.start),
    its answer read once, when first asked for."""

    def __init__(
        self,
        counter: RedisCounter,
        windows: Sequence[Window],
        script: bytes,
        command: Any,
        nonce: Window | None = None,
    ) -> None:
        self._counter = counter
        self._windows = windows
        self._script = script
        self._command = command
        self._nonce = nonce
        self._answer: list[Any] | None = None
        self._failure: Exception | None = None

    def _answered(self) -> list[Any]:
        """The answer, read once; a failure to read it is raised again on every later ask
        (reading again would wait on a connection with nothing to read, then count again)."""
        if self._failure is not None:
            raise self._failure
        if self._answer is None:
            try:
                self._answer = self._counter.answer(self._command, self._script)
            except Exception as exc:
                self._failure = exc
                raise
        return self._answer

    def result(self) -> Passed | None:
        index, ttl = self._answered()[:2]
        return Passed(int(index) - 1, float(ttl)) if index else None

    def cancel(self, keep: int) -> Passed | None:
        """Give back the counts the block should not keep; with no answer, nothing is known
        to have been counted, and the failure is raised again."""
        passed = self.result()
        counted = self._windows[keep : len(self._windows) if passed is None else passed.window + 1]
        given = [*counted, self._nonce] if self._nonce is not None else counted
        if given:
            self._counter.give_back(given)
        return passed if passed is not None and passed.window < keep else None

    def replayed(self) -> bool:
        return self._nonce is not None and int(self._answered()[2]) > 1


def _count_each(storage: Storage, windows: Sequence[Window]) -> Passed | None:
    for index, window in enumerate(windows):
        if storage.incr(window.key, window.seconds) > window.amount:
            return Passed(index, storage.get_expiry(window.key) - time.time())
    return None


class Limit:
    """One rate limit (`600/minute`, `10/minute;200/day`) with a counter per address or hotkey.

    `name` is the parts of the counters' names after the prefix, WHO standing for who is
    counted (the names are flask-limiter's: see the module's docstring).
    """

    def __init__(self, limiter: Limiter, limits: str, *name: str) -> None:
        self.limiter = limiter
        self.items: list[RateLimitItem] = sorted(parse_many(limits))
        self._windows = [
            (item.key_for(KEY_PREFIX, *name), item.get_expiry(), item.amount) for item in self.items
        ]

    def windows(self, who: str) -> list[Window]:
        return [Window(key.format(who), seconds, amount) for key, seconds, amount in self._windows]

    def spend(self, who: str) -> None:
        """Count one request of `who`, or refuse it with 429 once a window is passed."""
        spend(self.limiter, [(self, who)])

    def refused(self, who: str, window: int, seconds_left: float) -> SignerError:
        """The 429 for `who`, refused by its `window`-th window, which ends in `seconds_left`."""
        retry = max(1, int(seconds_left))
        return SignerError(
            429,
            "rate_limited",
            f"rate limit exceeded ({self.items[window]}); retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )


Parts = Sequence[tuple[Limit, str]]


def spend(limiter: Limiter, parts: Parts) -> None:
    """Count one request in each limit of `parts`, in order, in one call to the counters;
    the first window passed refuses it with that limit's 429 (later limits not counted)."""
    passed = limiter.count(windows_of(parts))
    if passed is not None:
        raise refusal(parts, passed)


def windows_of(parts: Parts) -> list[Window]:
    return [w for limit, who in parts for w in limit.windows(who)]


def refusal(parts: Parts, passed: Passed) -> SignerError:
    """The 429 of the limit in `parts` whose window refused the request."""
    window = passed.window
    for limit, who in parts:
        if window < len(limit.items):
            return limit.refused(who, window, passed.seconds_left)
        window -= len(limit.items)
    raise ValueError(f"window {passed.window} is not one of the limits counted")


class HotkeyQuota(Limit):
    """One quota per hotkey for a group of endpoints (`scope`: miner, validator, status)."""

    def __init__(self, limiter: Limiter, limits: str, scope: str) -> None:
        super().__init__(limiter, limits, scope, WHO)

    def spend(self, who: str) -> None:
        """Count one request of `who`, with the request's address when it waits (install)."""
        spend(self.limiter, self._parts(who))

    def counting(self, who: str, nonce: Window | None = None) -> QuotaCounting:
        """Count one request of `who` (with its waiting address, and its X-Tao `nonce`)
        while the block checks it.

        The call to the counters starts before the block and is answered after it (see the
        module's docstring): a block that raises gives back the hotkey's counts (and the
        nonce's) and raises on, unless the address was over its limit, which answers 429
        instead, as it would have on the way out; a block that ends is answered 429 if a
        window was passed. In the block, once the signature has verified, replayed() says
        whether the nonce was used before. The block must not count in the same limiter
        (Limiter.start).
        """
        return QuotaCounting(self.limiter, self._parts(who), len(self.items), nonce)

    def _parts(self, who: str) -> Parts:
        deferred = g.pop(DEFERRED, None) if has_request_context() else None
        return [deferred, (self, who)] if deferred else [(self, who)]


class QuotaCounting:
    """HotkeyQuota.counting's `with` block: `parts` (and a nonce) counted, the last one's
    `own` windows (and the nonce) given back when the block raises."""

    def __init__(self, limiter: Limiter, parts: Parts, own: int, nonce: Window | None) -> None:
        self._parts = parts
        self._windows = windows_of(parts)
        self._keep = len(self._windows) - own
        self._started = limiter.start(self._windows, nonce)

    def __enter__(self) -> Counting:
        return self._started

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            passed = self._started.result()
            if passed is not None:
                raise refusal(self._parts, passed)
            return
        passed = self._started.cancel(self._keep)
        if passed is not None:
            raise refusal(self._parts, passed) from None


class AddressLimit(Limit):
    """SIGNER_RATELIMIT_ADDRESS: one counter per client address, shared by every endpoint.

    It remembers the addresses it refused until the refusing window ends: their count can
    only grow until then, so answering 429 without counting gives the same answer, sooner.
    """

    def __init__(self, limiter: Limiter, limits: str) -> None:
        super().__init__(limiter, limits, WHO, "global")
        self._lock = threading.Lock()
        self._until: dict[str, tuple[float, int]] = {}
        self._next_sweep = 0.0

    def refused(self, who: str, window: int, seconds_left: float) -> SignerError:
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_SECONDS
                for key in [k for k, (until, _) in self._until.items() if until <= now]:
                    del self._until[key]
            self._until[who] = (now + seconds_left, window)
        return super().refused(who, window, seconds_left)

    def still_refused(self, who: str) -> SignerError | None:
        """The 429 for an address refused earlier whose refusing window has not ended."""
        until, window = self._until.get(who, (0.0, 0))
        seconds_left = until - time.time()
        return super().refused(who, window, seconds_left) if seconds_left > 0 else None


def install(
    app: Flask,
    limit: AddressLimit,
    exempt: Collection[Callable[..., Any]],
    with_quota: Collection[Callable[..., Any]],
) -> None:
    """Count `limit` for the client's address before the hooks installed after this one, or,
    on the views in `with_quota`, with the hotkey's quota (see the module's docstring).

    The address is `request.remote_addr`, which the TrustedProxies middleware (signer/proxy.py)
    has already set. Requests that reach no endpoint, views in `exempt` (the probes, object
    reads through list URLs) and static files (Swagger UI's) are not counted, as under
    flask-limiter. A view in `with_quota` spends a HotkeyQuota on every request that passes
    its checks, and does nothing costly before it.
    """
    exempt_names = {_qualified_name(view) for view in exempt}
    deferred_names = {_qualified_name(view) for view in with_quota}

    @cache
    def counted(endpoint: str) -> str | None:
        """How a request to `endpoint` is counted: None (not), "now" or "deferred"."""
        name = _qualified_name(current_app.view_functions.get(endpoint))
        if endpoint.rpartition(".")[2] == "static" or name in exempt_names:
            return None
        return "deferred" if name in deferred_names else "now"

    @app.before_request
    def _per_address() -> None:
        endpoint = request.endpoint
        how = counted(endpoint) if endpoint is not None else None
        if how is None:
            return
        who = limit_key(request.remote_addr or "127.0.0.1")
        refusal = limit.still_refused(who)
        if refusal is not None:
            raise refusal
        if how == "deferred":
            setattr(g, DEFERRED, (limit, who))
        else:
            limit.spend(who)

    @app.after_request
    def _deferred(response: Response) -> Response:
        deferred = g.pop(DEFERRED, None)
        if deferred is None:
            return response
        try:
            deferred[0].spend(deferred[1])
        except SignerError as exc:
            return error_response(exc.status, exc.code, exc.detail, headers=exc.headers)
        return response


def _qualified_name(view: Callable[..., Any] | None) -> str:
    return f"{view.__module__}.{view.__qualname__}" if view is not None else ""


class SweptMemoryStorage(Storage):
    """Fixed-window counters of this process (`memory://`), swept at most once a second.

    limits' own MemoryStorage starts a timer thread every 10 ms while counters change, to
    drop expired ones: 12% of a credential request's time under load (bench/RESULTS.md).
    Here a counter past its window restarts when next counted, and expired counters are
    swept inline at most once a second, so memory stays bounded by the keys of one window
    without any thread.
    """

    # limits declares STORAGE_SCHEME on its base as an instance attribute, which is what
    # mypy holds a ClassVar override to; ruff asks for ClassVar on a mutable class value.
    STORAGE_SCHEME = ["signer-memory"]  # noqa: RUF012

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._expiries: dict[str, float] = {}
        self._next_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def __len__(self) -> int:
        return len(self._counts)

    def _sweep(self, now: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            for key in [k for k, at in self._expiries.items() if at <= now]:
                del self._expiries[key], self._counts[key]

    def _incr(self, key: str, expiry: int, amount: int, now: float) -> int:
        if self._expiries.get(key, 0.0) <= now:
            self._counts[key] = 0
            self._expiries[key] = now + expiry
        self._counts[key] += amount
        return self._counts[key]

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            self._sweep(now)
            return self._incr(key, expiry, amount, now)

    def count_windows(self, windows: Sequence[Window]) -> Passed | None:
        """Limiter.count for this storage: the windows counted under one lock."""
        now = time.time()
        with self._lock:
            self._sweep(now)
            for index, window in enumerate(windows):
                if self._incr(window.key, window.seconds, 1, now) > window.amount:
                    return Passed(index, self._expiries[window.key] - now)
        return None

    def get(self, key: str) -> int:
        with self._lock:
            if self._expiries.get(key, 0.0) <= time.time():
                return 0
            return self._counts.get(key, 0)

    def get_expiry(self, key: str) -> float:
        with self._lock:
            return self._expiries.get(key, time.time())

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            count = len(self._counts)
            self._counts.clear()
            self._expiries.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)
            self._expiries.pop(key, None)
