"""Django adapter for ``redis_patterns.ratelimit``: per-route rules, a middleware and a decorator.

Rules live in ``settings.RATELIMIT_RULES`` (name -> dict)::

    "leaderboard-scores": {
        "path": r"^/api/leaderboards/[^/]+/scores$",  # regex; rules with a path are applied by the middleware
        "methods": ["POST"],                          # default: every method
        "key": "user_or_ip",                          # ip | user | user_or_ip | username | post:<field> |
                                                      # "dotted.path.function"
        "algorithm": "token_bucket",                  # fixed_window | sliding_log | sliding_window | token_bucket | gcra
                                                      # | fixed_window_plain (no Lua; see redis_patterns.ratelimit)
        "limit": 10, "period": 60,                    # units per period (seconds)
        "fail": "open",                               # Redis down: "open" admits, "closed" answers 503,
                                                      # "local" falls back to a per-process limiter
        "cost": 1,                                    # optional
        "response": "auto",                           # optional: json | html | auto (/api/ and JSON clients get JSON)
    }

Rules without a ``path`` are applied where a view asks for them:
``@ratelimit("login-ip", "login-username")``.  A key function returning
``None`` (an anonymous user for ``user``, a form without the field) skips
the rule for that request.

Keys are things a client cannot mint for free: its address, its
authenticated user, or (always next to a per-address rule) the account a
login names.  A client-chosen header such as ``X-API-Key`` is no key: every
made-up value would buy a fresh allowance.

Every login path shares the two login rules, so they share the counters
(the keys are ``rl:<algorithm>:<rule>:{<subject>}``, whatever the path):
``/accounts/login/`` and ``/admin/login/`` (``config/urls.py``), and any
JSON login endpoint decorated the same way (the ``username`` key reads a
form field or a JSON body's ``"username"``), e.g. ``POST /api/auth/token``::

    @ratelimit("login-ip", "login-username")
    def token(request): ...

Every rule matching a request is decided in **one round trip**: a single
rule (the usual case) is one ``decide`` call, several are pipelined together
(``decide_many``), each decision atomic in its own script.  Everything a rule
needs that does not depend on the request (its limiter, its key function,
the list of rules with a path) is built once, on first use.  A refused request
gets 429 with ``Retry-After`` and ``RateLimit-Limit`` / ``RateLimit-Remaining``
/ ``RateLimit-Reset`` (delta seconds, per the IETF RateLimit header draft);
admitted requests carry the same three headers for the tightest rule.  The
body is JSON ``{"error": "rate_limited", ...}`` for API routes and a page for
people elsewhere.

Client IP: ``RATELIMIT_TRUSTED_PROXIES = n`` says how many reverse proxies
in front of the app append to ``X-Forwarded-For``.  The client is the address
just before those ``n`` hops; anything further left was written by the client
and is ignored, so a spoofed header cannot buy a fresh limit.  With ``n = 0``
(no proxy) the header is ignored entirely.  IPv6 clients are limited per /64,
the block one subscriber usually gets.

Failure policy: per rule (``fail``).  ``open`` logs and admits (the API and
the game keep working without Redis); ``closed`` answers 503 (login: better
to refuse logins for a minute than to allow unlimited password guessing);
``local`` decides with a per-process sliding log of the same limit while
Redis is down (checkout: orders keep being taken, the database guards stock
and idempotency, and one client still cannot place more than the limit per
process; with P processes, at most P times the limit during an outage).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any, NamedTuple

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from config.api import error
from config.redis import get_async_redis, get_redis, redis_config
from ops import metrics
from redis_patterns.ratelimit import Decision, RateLimiter, decide_many, make_limiter

log = logging.getLogger(__name__)


# --- client identity -----------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting exactly ``RATELIMIT_TRUSTED_PROXIES`` proxies."""
    return client_address(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))


def client_address(remote: str, forwarded_for: str = "") -> str:
    """The client's address from the TCP peer and ``X-Forwarded-For`` (for HTTP requests and WebSockets alike).

    Trusts exactly ``RATELIMIT_TRUSTED_PROXIES`` proxies (see the module docstring).
    """
    return _client_address(remote or "unknown", forwarded_for, _switches().trusted_proxies)


@lru_cache(maxsize=4096)
def _client_address(remote: str, forwarded_for: str, trusted: int) -> str:
    """``client_address`` for one (peer, header, proxy count): a pure function, so its answers are kept.

    Parsing and normalising an address costs about 5 µs, on every limited
    request; the same clients come back, and a bounded cache (least recently
    used out) cannot be grown by a client sending a new header each time.
    """
    candidate = remote
    if trusted > 0:
        forwarded = [p.strip() for p in forwarded_for.split(",") if p.strip()]
        chain = [*forwarded, remote]
        # chain[-1] is the nearest proxy, chain[-trusted] the outermost one we
        # run; the entry before it was written by that proxy: the client.  A
        # shorter chain did not come through all our proxies: trust only REMOTE_ADDR.
        if len(chain) > trusted:
            candidate = chain[-1 - trusted]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _user(request: HttpRequest) -> str | None:
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else None


def _ip(request: HttpRequest) -> str:
    return "ip:" + client_ip(request)


def _username(request: HttpRequest) -> str | None:
    """The account a login attempt names: the form's ``username`` or a JSON body's ``"username"``.

    The same subject for every login path (a form page, the admin, a JSON
    token endpoint), so they share one per-account counter.  Case-folded:
    ``ADA`` and ``ada`` are one account to a password guesser.
    """
    if request.content_type == "application/json":
        from config.api import ApiError, json_body

        try:
            value = json_body(request).get("username")
        except ApiError:
            return None  # the view refuses the body itself; the per-address rule still counted it
    else:
        value = request.POST.get("username")
    if not isinstance(value, str) or not value.strip():
        return None
    return "username:" + value.strip().casefold()[:150]


KEY_FUNCTIONS: dict[str, Callable[[HttpRequest], str | None]] = {
    "ip": _ip,
    "user": _user,
    "user_or_ip": lambda request: _user(request) or _ip(request),
    "username": _username,
}


def key_function(spec: str) -> Callable[[HttpRequest], str | None]:
    """Resolve a rule's ``key`` setting to a function of the request."""
    if spec in KEY_FUNCTIONS:
        return KEY_FUNCTIONS[spec]
    if spec.startswith("post:"):
        name = spec[5:]

        def post_field(request: HttpRequest) -> str | None:
            value = request.POST.get(name, "").strip().lower()
            return f"{name}:{value}" if value else None

        return post_field
    return import_string(spec)


# --- the local fallback ---------------------------------------------------------------------------


class LocalSlidingLog:
    """A per-process sliding log: what a ``fail: "local"`` rule decides with while Redis is down.

    The same limit and period as the rule, counted in this process's memory:
    a client cannot exceed the limit *per process*, so a deployment of P
    processes admits at most P times the limit during an outage (instead of
    unlimited, as ``open`` would, or nothing, as ``closed`` would).  Memory is
    bounded: at most ``max_subjects`` logs, the least recently used dropped.
    """

    def __init__(self, limit: int, period: float, max_subjects: int = 10_000) -> None:
        self.limit, self.period, self.max_subjects = limit, period, max_subjects
        self._logs: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def decide(self, subject: str, cost: int = 1, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        with self._lock:
            log_ = self._logs.pop(subject, None) or deque()
            while log_ and log_[0] <= now - self.period:
                log_.popleft()
            allowed = len(log_) + cost <= self.limit
            if allowed:
                log_.extend([now] * cost)
            self._logs[subject] = log_
            while len(self._logs) > self.max_subjects:
                self._logs.popitem(last=False)
            oldest = log_[0] if log_ else now
            retry = 0.0 if allowed else max(0.0, oldest + self.period - now)
            return Decision(allowed=allowed, remaining=max(0, self.limit - len(log_)), retry_after=retry,
                            reset=max(0.0, oldest + self.period - now) if log_ else 0.0, limit=self.limit)


# --- rules ------------------------------------------------------------------------------------


@dataclass
class Rule:
    name: str
    algorithm: str
    limit: int
    period: float
    key: str
    path: re.Pattern[str] | None = None
    methods: frozenset[str] = frozenset()
    fail: str = "open"  # open | closed | local
    cost: int = 1
    response: str = "auto"
    _limiter: RateLimiter | None = field(default=None, repr=False)
    _key_fn: Callable[[HttpRequest], str | None] | None = field(default=None, repr=False)
    _local: LocalSlidingLog | None = field(default=None, repr=False)

    @classmethod
    def from_setting(cls, name: str, conf: dict[str, Any]) -> Rule:
        fail = conf.get("fail", "open")
        if fail not in FAIL_POLICIES:
            raise ValueError(f"RATELIMIT_RULES[{name!r}]['fail'] must be one of {', '.join(FAIL_POLICIES)}")
        return cls(
            name=name, algorithm=conf["algorithm"], limit=int(conf["limit"]), period=float(conf["period"]),
            key=conf["key"], path=re.compile(conf["path"]) if conf.get("path") else None,
            methods=frozenset(m.upper() for m in conf.get("methods", ())), fail=fail,
            cost=int(conf.get("cost", 1)), response=conf.get("response", "auto"),
        )

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = make_limiter(self.algorithm, get_redis, name=self.name, limit=self.limit,
                                         period=self.period, key_prefix=redis_config().key_prefix,
                                         aclient=get_async_redis)
        return self._limiter

    @property
    def fail_open(self) -> bool:
        return self.fail == "open"

    @property
    def local(self) -> LocalSlidingLog:
        """This rule's per-process fallback (``fail: "local"``), built on first use."""
        if self._local is None:
            self._local = LocalSlidingLog(self.limit, self.period)
        return self._local

    def applies_to(self, request: HttpRequest) -> bool:
        return not self.methods or request.method in self.methods

    def subject(self, request: HttpRequest) -> str | None:
        if self._key_fn is None:  # resolved once per rule, not per request
            self._key_fn = key_function(self.key)
        return self._key_fn(request)


FAIL_POLICIES = ("open", "closed", "local")
_rules: dict[str, Rule] | None = None
_path_rules: tuple[Rule, ...] | None = None


def rules() -> dict[str, Rule]:
    """``settings.RATELIMIT_RULES`` parsed once (again after ``override_settings`` in tests)."""
    global _rules
    if _rules is None:
        _rules = {name: Rule.from_setting(name, conf)
                  for name, conf in getattr(settings, "RATELIMIT_RULES", {}).items()}
    return _rules


def path_rules() -> tuple[Rule, ...]:
    """The rules the middleware applies (those with a ``path``), worked out once."""
    global _path_rules
    if _path_rules is None:
        _path_rules = tuple(rule for rule in rules().values() if rule.path is not None)
    return _path_rules


class _Switches(NamedTuple):
    enabled: bool
    trusted_proxies: int


_switches_read: _Switches | None = None


def _switches() -> _Switches:
    """``RATELIMIT_ENABLED`` and ``RATELIMIT_TRUSTED_PROXIES``, read once (again after ``override_settings``).

    Read on every limited request; a settings lookup costs about 0.3 µs each.
    """
    global _switches_read
    if _switches_read is None:
        _switches_read = _Switches(bool(getattr(settings, "RATELIMIT_ENABLED", True)),
                                   int(getattr(settings, "RATELIMIT_TRUSTED_PROXIES", 0)))
    return _switches_read


@receiver(setting_changed)
def _forget_rules(setting: str, **kwargs: Any) -> None:
    global _rules, _path_rules, _switches_read
    if setting in ("RATELIMIT_RULES", "REDIS"):
        _rules = _path_rules = None
    elif setting in ("RATELIMIT_ENABLED", "RATELIMIT_TRUSTED_PROXIES"):
        _switches_read = None


def enabled() -> bool:
    return _switches().enabled


# --- deciding and answering ---------------------------------------------------------------------


class Outcome(NamedTuple):
    rule: Rule
    decision: Decision | None  # None: Redis failed and the rule failed open


def _pending(request: HttpRequest, chosen: Iterable[Rule]) -> list[tuple[Rule, str]]:
    out = []
    for rule in chosen:
        if rule.applies_to(request):
            subject = rule.subject(request)
            if subject is not None:
                out.append((rule, subject))
    return out


def _settle(request: HttpRequest, pending: list[tuple[Rule, str]],
            results: list[Decision | Exception]) -> HttpResponse | None:
    metrics.ratelimit_decisions([rule for rule, _ in pending], results)
    outcomes = []
    for (rule, subject), result in zip(pending, results, strict=True):
        if isinstance(result, Exception):
            if rule.fail == "open":
                log.warning("rate limit %s: Redis unavailable, failing open for %s: %s", rule.name, subject, result)
                outcomes.append(Outcome(rule, None))
                continue
            if rule.fail == "local":
                log.warning("rate limit %s: Redis unavailable, deciding in this process: %s", rule.name, result)
                outcomes.append(Outcome(rule, rule.local.decide(subject, rule.cost)))
                continue
            log.error("rate limit %s: Redis unavailable, failing closed: %s", rule.name, result)
            return _unavailable(request, rule)
        outcomes.append(Outcome(rule, result))
    decided = [o for o in outcomes if o.decision is not None]
    if not decided:
        return None
    denied = [o for o in decided if not o.decision.allowed]
    if denied:
        worst = max(denied, key=lambda o: o.decision.retry_after)
        return _too_many(request, worst)
    request.ratelimit = min(decided, key=lambda o: o.decision.remaining)  # type: ignore[attr-defined]
    return None


def check(request: HttpRequest, chosen: Sequence[Rule]) -> HttpResponse | None:
    """Decide every applicable rule in one round trip; a response to send instead, or ``None``.

    The common case, one rule, is one ``decide`` (one command, no pipeline
    object); several rules go out together with ``decide_many``.
    """
    if len(chosen) == 1:
        rule = chosen[0]
        subject = rule.subject(request) if rule.applies_to(request) else None
        if subject is None:
            return None
        try:
            decision = rule.limiter.decide(subject, rule.cost)
        except RedisError as exc:
            return _settle(request, [(rule, subject)], [exc])
        metrics.ratelimit_decision(rule, decision)
        if decision.allowed:
            request.ratelimit = Outcome(rule, decision)  # type: ignore[attr-defined]
            return None
        return _too_many(request, Outcome(rule, decision))
    pending = _pending(request, chosen)
    if not pending:
        return None
    try:
        results: list[Decision | Exception] = decide_many(
            get_redis(), [(rule.limiter, subject, rule.cost) for rule, subject in pending], raise_on_error=False)
    except RedisError as exc:
        results = [exc] * len(pending)
    return _settle(request, pending, results)


async def acheck(request: HttpRequest, chosen: Iterable[Rule]) -> HttpResponse | None:
    """``check`` for async views (``adecide`` per rule, on the event loop's client)."""
    pending = _pending(request, chosen)
    results: list[Decision | Exception] = []
    for rule, subject in pending:
        try:
            results.append(await rule.limiter.adecide(subject, rule.cost))
        except RedisError as exc:
            results.append(exc)
    return _settle(request, pending, results) if pending else None


def wants_json(request: HttpRequest, rule: Rule) -> bool:
    if rule.response != "auto":
        return rule.response == "json"
    accept = request.META.get("HTTP_ACCEPT", "")
    return request.path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept)


def _headers(response: HttpResponse, decision: Decision) -> None:
    headers = response.headers
    headers["RateLimit-Limit"] = str(decision.limit)
    headers["RateLimit-Remaining"] = str(decision.remaining)
    headers["RateLimit-Reset"] = str(math.ceil(decision.reset))


def _too_many(request: HttpRequest, outcome: Outcome) -> HttpResponse:
    decision = outcome.decision
    assert decision is not None
    retry = max(1, math.ceil(decision.retry_after))
    if wants_json(request, outcome.rule):
        response: HttpResponse = error(429, "rate_limited", f"too many requests; retry in {retry} s",
                                       rule=outcome.rule.name, retry_after=retry)
    else:
        html = render_to_string("ratelimited.html",
                                {"retry_after": retry, "rule": outcome.rule, "decision": decision}, request=request)
        response = HttpResponse(html, status=429)
    response["Retry-After"] = str(retry)
    _headers(response, decision)
    return response


def _unavailable(request: HttpRequest, rule: Rule) -> HttpResponse:
    if wants_json(request, rule):
        response: HttpResponse = error(503, "rate_limiter_unavailable",
                                       "this action is paused while the rate limiter is down", rule=rule.name)
    else:
        html = render_to_string("ratelimited.html", {"unavailable": True, "rule": rule}, request=request)
        response = HttpResponse(html, status=503)
    response["Retry-After"] = "5"
    return response


def _annotate(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    outcome = getattr(request, "ratelimit", None)
    if outcome is not None and outcome.decision is not None and response.status_code != 429:
        _headers(response, outcome.decision)
    return response


# --- the two ways to apply rules -------------------------------------------------------------------


class RateLimitMiddleware:
    """Applies every rule in ``RATELIMIT_RULES`` that has a ``path`` matching the request.

    Placed after the authentication middleware (rules keyed by user need
    ``request.user``).  A rule for a route that does not exist yet (``POST
    /api/orders``) simply applies once the route exists -- or to its 404s before.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if enabled():
            path = request.path
            matching = [rule for rule in path_rules() if rule.path.search(path)]  # type: ignore[union-attr]
            if matching:
                refused = check(request, matching)
                if refused is not None:
                    return refused
        return _annotate(request, self.get_response(request))


def ratelimit(*rule_names: str) -> Callable:
    """View decorator applying the named rules (settings ``RATELIMIT_RULES``), sync or async views.

    >>> login = ratelimit("login-ip", "login-username")(LoginView.as_view())
    """

    def decorator(view: Callable) -> Callable:
        def chosen() -> list[Rule]:
            table = rules()
            missing = [n for n in rule_names if n not in table]
            if missing:
                raise KeyError(f"no rate-limit rule named {', '.join(missing)} in RATELIMIT_RULES")
            return [table[n] for n in rule_names]

        if iscoroutinefunction(view):
            @wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if enabled():
                    refused = await acheck(request, chosen())
                    if refused is not None:
                        return refused
                return _annotate(request, await view(request, *args, **kwargs))

            return async_wrapper

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if enabled():
                refused = check(request, chosen())
                if refused is not None:
                    return refused
            return _annotate(request, view(request, *args, **kwargs))

        return wrapper

    return decorator


# --- system check ------------------------------------------------------------------------------------


@register(Tags.security)
def check_rules(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``site_config.E010``: a rule in ``RATELIMIT_RULES`` that cannot work (caught at startup, not at 3 a.m.)."""
    errors = []
    for name, conf in getattr(settings, "RATELIMIT_RULES", {}).items():
        try:
            rule = Rule.from_setting(name, conf)
            make_limiter(rule.algorithm, None, name=name, limit=rule.limit, period=rule.period)
            key_function(rule.key)
            if not 1 <= rule.cost <= rule.limit:
                raise ValueError("cost must be between 1 and the limit")
        except (KeyError, ValueError, TypeError, ImportError, re.error) as exc:
            errors.append(Error(f"RATELIMIT_RULES[{name!r}] is invalid: {exc!r}",
                                hint="See the rule format in config/ratelimit.py.", id="site_config.E010"))
    return errors
