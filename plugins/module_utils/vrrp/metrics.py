"""Prometheus metrics of the runner: a collector and a small HTTP endpoint.

Opt-in (``metrics_listen`` in the config, ``--metrics-listen`` on the command
line). Off, the runner never imports ``prometheus_client`` (this module
imports it on first use, through :mod:`._deps`): the daemon pays nothing.

Collection: :class:`RunnerCollector` reads the runner's own ``state()``,
``stats()`` (the control API's data) and ``details()`` at scrape time;
nothing is counted per event for the metrics' sake. The labels of an
instance are its name, VRID, interface and address family, its identity in
the config: a reload that keeps an instance keeps its series.

Serving: one asyncio server on the runner's own loop, bound to the configured
address only. A scraper cannot stall the loop: one request per connection,
the request head is capped (:data:`MAX_HEAD` bytes) and must arrive within
:data:`READ_TIMEOUT` seconds, the answer must drain within
:data:`WRITE_TIMEOUT`, at most :data:`MAX_CLIENTS` connections at once (more
get 503). Only ``GET /metrics`` is answered (``HEAD`` too): other methods get
405, other paths 404.

The body is made on the loop, in slices: the runner's data read once (2-11 ms
at 510 instances, the cost of a control socket ``state``), the families
filled :data:`BATCH` instances at a time, then written by
``prometheus_client.exposition.generate_latest`` :data:`BATCH` samples at a
time, the loop running between slices. Made at once, a body of 510 instances
held the loop for 100-250 ms (``bench/metrics.py``); a worker thread did not
help, as it holds the GIL for long stretches on a loaded box (the loop waited
110-160 ms) and would need a copy of the runner's state anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Iterator, Mapping
from ipaddress import IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Final, Protocol

from . import _deps
from .control import close_server
from .errors import VRRPError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

log = logging.getLogger("failover-vrrp.metrics")

MAX_HEAD: Final = 8 * 1024
READ_TIMEOUT: Final = 5.0
WRITE_TIMEOUT: Final = 10.0
MAX_CLIENTS: Final = 16
BATCH: Final = 64  # instances, then samples, per slice of a scrape (bench/metrics.py)
PREFIX: Final = "vrrp"
STATES: Final = ("INIT", "BACKUP", "MASTER", "FAULT")
# Counters by reason or kind (drops, anomalies, I/O errors) appear at their
# first count: 14 drop reasons and 2 anomalies always there would triple the
# samples (and the scrape's cost) of a host with hundreds of instances.
ANOMALIES: Final = ("address_mismatch", "lower_priority_master")


def _prometheus() -> Any:
    """The ``prometheus_client`` package (imported on first use), or
    :class:`~vrrp._deps.MissingLibraryError`."""
    _deps.require_prometheus_client()
    return _deps.prometheus_client


# ----------------------------------------------------------------- address


class ListenAddressError(VRRPError):
    """A metrics listen address that is not ``IPv4:PORT`` or ``[IPv6]:PORT``."""


def parse_listen(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """``"127.0.0.1:9650"`` -> ``("127.0.0.1", 9650)``; ``"[::1]:9650"`` -> ``("::1", 9650)``.

    An IP literal only (no host name: nothing is looked up, exactly this
    address is bound), a port 1..65535 (0 too with ``any_port``: the kernel
    picks one; tests). Raises :class:`ListenAddressError`.
    """
    rule = f"{text!r} is not IPv4:PORT or [IPv6]:PORT (e.g. 127.0.0.1:9650, [::1]:9650)"
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not port.isascii():
        raise ListenAddressError(rule)
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    try:
        address = ip_address(host)
    except ValueError:
        raise ListenAddressError(rule) from None
    if isinstance(address, IPv6Address) != bracketed or "%" in host:
        raise ListenAddressError(rule)
    number = int(port)
    if not (0 if any_port else 1) <= number <= 65535:
        raise ListenAddressError(f"{text!r}: the port must be 1..65535, not {number}")
    return str(address), number


# --------------------------------------------------------------- collector


class MetricsSource(Protocol):
    """What the collector reads: the runner's control API data and its details()."""

    def state(self) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def details(self) -> dict[str, Any]: ...


_LABELS: Final = ("name", "vrid", "interface", "family")


class Families:
    """The metric families of one snapshot, built instance by instance.

    :class:`RunnerCollector` builds them all at once; the endpoint builds
    them a batch of instances at a time and lets the loop run in between.
    """

    def __init__(self, source: MetricsSource) -> None:
        self.core = _prometheus().core
        gauge, counter = self.core.GaugeMetricFamily, self.core.CounterMetricFamily
        self.state, stats, self.details = source.state(), source.stats(), source.details()
        self.runner_stats: Mapping[str, int] = stats.get("runner", {})
        self.per_stats: Mapping[str, Mapping[str, int]] = stats.get("instances", {})
        self.names: list[str] = list(self.state.get("instances", {}))

        def family(kind: Any, name: str, doc: str, *extra: str) -> Any:
            return kind(f"{PREFIX}_{name}", doc, labels=[*_LABELS, *extra])

        self.m: dict[str, Any] = {
            "state": family(gauge, "instance_state", "1 for the current state.", "state"),
            "priority": family(gauge, "priority", "Configured priority."),
            "effective": family(gauge, "effective_priority", "Priority in use (tracking)."),
            "master": family(gauge, "master_info", "Master heard (1).", "master_address"),
            "master_priority": family(gauge, "master_priority", "Priority of the Master heard."),
            "since": family(
                gauge, "last_transition_timestamp_seconds", "Time of the last transition."
            ),
            "fault": family(gauge, "fault", "1 per active fault reason.", "reason"),
            "sent": family(counter, "adverts_sent", "Advertisements sent."),
            "received": family(counter, "adverts_received", "Advertisements received."),
            "p0_sent": family(counter, "priority_zero_sent", "Priority-0 adverts sent."),
            "p0_received": family(
                counter, "priority_zero_received", "Priority-0 adverts received."
            ),
            "became": family(counter, "became_master", "Transitions to MASTER."),
            "released": family(counter, "released_master", "Transitions out of MASTER."),
            "transitions": family(counter, "transitions", "Transitions.", "from", "to"),
            "dropped": family(counter, "adverts_dropped", "Adverts dropped.", "reason"),
            "anomalies": family(counter, "anomalies", "Peers out of line.", "kind"),
            "announce": family(
                counter, "announcements", "GARP/NA rounds sent (each one per virtual address)."
            ),
            "successor": family(
                counter,
                "successor_announcements",
                "GARP/NA frames heard while awaiting a successor: heard (our VIPs,"
                " from another node), own (our own frames), ignored (anything else).",
                "kind",
            ),
            "io_errors": family(counter, "io_errors", "Kernel actions that failed.", "action"),
            "send_errors": family(counter, "send_errors", "Adverts the kernel refused."),
            "tracker": family(
                gauge,
                "tracker_status",
                "1 up/ok, 0 down/failing, a file's value.",
                "kind",
                "tracker",
            ),
            "weight": family(gauge, "tracker_weight", "Weight.", "kind", "tracker"),
        }

    def add(self, names: list[str]) -> None:
        """Add the samples of these instances."""
        instances = self.state.get("instances", {})
        for name in names:
            inst = instances[name]
            more = self.details.get(name, {})
            labels = [name, str(inst["vrid"]), inst["interface"], f"ipv{more.get('family', 4)}"]
            _instance(self.m, labels, inst, self.per_stats.get(name, {}))
            for tracker in more.get("trackers", ()):
                extra = [*labels, tracker["kind"], tracker["name"]]
                self.m["tracker"].add_metric(extra, tracker["value"])
                self.m["weight"].add_metric(extra, tracker["weight"])

    def families(self) -> list[Metric]:
        """Every family, the instances' (as far as added) and the runner's."""
        return [*self.m.values(), *_runner(self.core, self.state, self.runner_stats)]


class RunnerCollector:
    """A prometheus_client collector over a :class:`MetricsSource`."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        families = Families(self.source)
        families.add(families.names)
        yield from families.families()


def _instance(
    m: dict[str, Any], labels: list[str], inst: Mapping[str, Any], counts: Mapping[str, int]
) -> None:
    current = inst["state"]
    for word in STATES:
        m["state"].add_metric([*labels, word], 1.0 if word == current else 0.0)
    m["priority"].add_metric(labels, inst["priority"])
    m["effective"].add_metric(labels, inst["effective_priority"])
    m["master"].add_metric([*labels, inst.get("master") or ""], 1.0)
    m["master_priority"].add_metric(labels, inst.get("master_priority") or 0)
    m["since"].add_metric(labels, inst["since"])
    for reason in inst.get("faults", ()):
        m["fault"].add_metric([*labels, reason], 1.0)
    for key, metric in (
        ("adverts_sent", "sent"),
        ("adverts_received", "received"),
        ("priority_zero_sent", "p0_sent"),
        ("priority_zero_received", "p0_received"),
        ("became_master", "became"),
        ("announcements", "announce"),
        ("send_errors", "send_errors"),
    ):
        m[metric].add_metric(labels, counts.get(key, 0))
    released = 0
    for key, value in counts.items():
        head, _dot, rest = key.partition(".")
        if head == "drop":
            m["dropped"].add_metric([*labels, rest], value)
        elif head == "transition":
            old, _dot, new = rest.partition(".")
            m["transitions"].add_metric([*labels, old, new], value)
            released += value if old == "MASTER" else 0
        elif head == "io_error":
            m["io_errors"].add_metric([*labels, rest], value)
        elif head == "announce_watch":
            m["successor"].add_metric([*labels, rest], value)
        elif key in ANOMALIES:
            m["anomalies"].add_metric([*labels, key], value)
    m["released"].add_metric(labels, released)


def _runner(core: Any, state: Mapping[str, Any], counts: Mapping[str, int]) -> Iterator[Metric]:
    info = core.GaugeMetricFamily(
        f"{PREFIX}_runner_info", "The runner's version (1).", labels=["version"]
    )
    info.add_metric([str(state.get("version", ""))], 1.0)
    yield info
    yield core.GaugeMetricFamily(
        f"{PREFIX}_runner_uptime_seconds",
        "Seconds since the runner started.",
        value=float(state.get("uptime", 0.0)),
    )
    yield core.GaugeMetricFamily(
        f"{PREFIX}_instances", "Instances running.", value=len(state.get("instances", {}))
    )
    reloads = core.CounterMetricFamily(
        f"{PREFIX}_reloads", "Reloads, applied or refused.", labels=["result"]
    )
    reloads.add_metric(["ok"], counts.get("reloads", 0))
    reloads.add_metric(["refused"], counts.get("reloads_refused", 0))
    yield reloads
    drops = core.CounterMetricFamily(
        f"{PREFIX}_runner_drops",
        "Datagrams dropped before any instance (no such VRID, too short, socket).",
        labels=["reason"],
    )
    for key, value in sorted(counts.items()):
        if key.startswith(("drop.", "socket.")):
            drops.add_metric([key.partition(".")[2] if key[0] == "d" else key], value)
    yield drops
    yield core.CounterMetricFamily(
        f"{PREFIX}_core_errors",
        "Core errors caught by the runner.",
        value=counts.get("core_errors", 0),
    )


def registry(source: MetricsSource) -> CollectorRegistry:
    """A registry holding only a :class:`RunnerCollector` over ``source``."""
    prometheus = _prometheus()
    reg: CollectorRegistry = prometheus.CollectorRegistry(auto_describe=False)
    reg.register(RunnerCollector(source))  # type: ignore[arg-type]
    return reg


# ------------------------------------------------------------------ server

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _Fixed:
    """A registry stand-in for ``generate_latest``: one family, already built."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterator[Metric]:
        yield self.family


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a scrape is made.

    A scrape allocates some 20 objects per sample that live until it is
    written, enough to start full collections of the whole heap (80-170 ms
    at 510 instances in ``bench/metrics.py``, the loop stopped meanwhile).
    What it allocates has no cycles and goes by reference counting once the
    body is written, which also takes it off the collector's count again;
    the loop's own work in between is a few hundred milliseconds at most.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class MetricsServer:
    """Serve ``GET /metrics`` for ``source`` on ``host:port`` (see the module docstring)."""

    def __init__(
        self,
        source: MetricsSource,
        *,
        listen: str,
        read_timeout: float = READ_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.listen = listen
        self.host, self.port = parse_listen(listen, any_port=True)
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_clients = max_clients
        self.source = source
        self.exposition = _prometheus().exposition
        self.counts: dict[str, int] = {"scrapes": 0, "refused": 0}
        self.batch = BATCH
        self._generating: asyncio.Lock | None = None  # made in start(): 3.9 binds a loop
        self._server: asyncio.base_events.Server | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    @property
    def sockname(self) -> tuple[str, int]:
        """The address and port bound (the port chosen by the kernel for port 0)."""
        if self._server is None or not self._server.sockets:
            raise VRRPError("the metrics server is not listening")
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    async def start(self) -> None:
        self._generating = asyncio.Lock()
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, limit=MAX_HEAD, reuse_address=True
            )
        except OSError as exc:
            raise VRRPError(f"metrics: cannot listen on {self.listen}: {exc.strerror}") from exc
        log.info("metrics on http://%s/metrics", self.listen)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        await close_server(server, self._clients)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients[task] = writer
        try:
            if len(self._clients) > self.max_clients:
                self.counts["refused"] += 1
                await self._respond(writer, 503, b"too many clients\n")
                return
            status, body, head_only = await self._answer(reader)
            await self._respond(writer, status, body, head_only=head_only)
        except (ConnectionError, asyncio.TimeoutError) as exc:
            log.debug("metrics client gone: %s", exc)
        except asyncio.CancelledError:
            pass  # close(): end quietly
        finally:
            if task is not None:
                self._clients.pop(task, None)
            writer.close()

    async def _answer(  # noqa: PLR0911 - one return per HTTP answer
        self, reader: asyncio.StreamReader
    ) -> tuple[int, bytes, bool]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.read_timeout)
        except asyncio.LimitOverrunError:
            return 431, f"request head over {MAX_HEAD} bytes\n".encode(), False
        except asyncio.TimeoutError:
            return 408, b"no request within the time allowed\n", False
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("closed before a full request") from exc
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return 400, b"not an HTTP/1.x request line\n", False
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target != b"/metrics":
            return 404, b"only /metrics is here\n", False
        if method not in (b"GET", b"HEAD"):
            return 405, b"only GET\n", False
        try:
            body = await self.body()
        except Exception:  # a bug in collection must not take the runner down
            log.exception("metrics: collecting failed")
            return 500, b"collection failed; see the runner's log\n", False
        self.counts["scrapes"] += 1
        return 200, body, method == b"HEAD"

    async def body(self) -> bytes:
        """The exposition, made in slices with the loop running in between.

        The runner's data is read once (a consistent snapshot), the families
        are filled :attr:`batch` instances at a time, and each family is
        written by ``generate_latest`` :attr:`batch` samples at a time: the
        first part of a family keeps its ``# HELP``/``# TYPE`` lines, the
        others lose them, so the parts joined are the one exposition
        ``generate_latest`` would write at once. One body at a time.
        """
        if self._generating is None:
            self._generating = asyncio.Lock()
        async with self._generating:
            with _collector_paused():
                families = Families(self.source)
                names = families.names
                for start in range(0, len(names), self.batch):
                    families.add(names[start : start + self.batch])
                    await asyncio.sleep(0)
                parts = []
                for family in families.families():
                    samples = family.samples
                    for start in range(0, max(len(samples), 1), self.batch):
                        family.samples = samples[start : start + self.batch]
                        text = self.exposition.generate_latest(_Fixed(family))
                        # generate_latest writes "# HELP" and "# TYPE" first.
                        parts.append(text.split(b"\n", 2)[2] if start else text)
                        await asyncio.sleep(0)
                del families
        return b"".join(parts)

    async def _respond(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, *, head_only: bool = False
    ) -> None:
        ctype = self.exposition.CONTENT_TYPE_LATEST if status == 200 else "text/plain"
        allow = "Allow: GET, HEAD\r\n" if status == 405 else ""
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n{allow}Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + (b"" if head_only else body))
        await asyncio.wait_for(writer.drain(), self.write_timeout)


async def follow(
    current: MetricsServer | None, source: MetricsSource, listen: str | None
) -> MetricsServer | None:
    """The server to run for ``listen`` (None: none), given the one running now.

    Metrics never stop the router: a failure to listen is logged and the
    current server (if any) goes on serving. A new address is bound before the
    old one is closed.
    """
    if current is not None and current.listen == listen:
        return current
    server = None
    if listen is not None:
        try:
            server = MetricsServer(source, listen=listen)
            await server.start()
        except VRRPError as exc:
            kept = f"; still serving on {current.listen}" if current is not None else ""
            log.error("metrics: %s%s", exc, kept)
            return current
    if current is not None:
        await current.close()
    return server


__all__ = [
    "ListenAddressError",
    "MetricsServer",
    "RunnerCollector",
    "follow",
    "parse_listen",
    "registry",
]
