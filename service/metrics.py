"""Prometheus metrics of one app, served as text at ``GET /metrics``.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so several
apps in one process (as in the tests) count separately. With several uvicorn
worker processes, each process has its own counters, and a scrape reaches only
one of them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "UNMATCHED_ROUTE", "Metrics"]

#: Media type of the text that :meth:`Metrics.render` returns.
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Route label of requests that matched no route: unknown paths, CORS preflights
#: and bodies rejected before routing.
UNMATCHED_ROUTE = "unmatched"

#: Methods counted under their own name. Any other method is counted as "OTHER",
#: so a client cannot create label values at will.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The service's metrics, kept in ``app.state.metrics``.

    Attributes
    ----------
    registry : CollectorRegistry
        The registry of this app only.
    requests : Counter
        ``recsys_http_requests_total`` by ``route`` template, ``method`` and ``status``.
    request_duration : Histogram
        ``recsys_http_request_duration_seconds`` by ``route`` template and ``method``.
    model_info : Gauge
        ``recsys_model_info``, 1 for the ``version`` and ``model_class`` being served.
    events_ingested : Counter
        ``recsys_events_ingested_total``, events stored by ``POST /v1/events``.
    reloads : Counter
        ``recsys_model_reloads_total``, successful model reloads.
    reload_failures : Counter
        ``recsys_model_reload_failures_total``, reloads that kept the previous model.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "recsys_http_requests",
            "HTTP requests handled, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "recsys_http_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its response, in seconds.",
            ["route", "method"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "recsys_model_info",
            "1 for the version and class of the model being served.",
            ["version", "model_class"],
            registry=self.registry,
        )
        self.events_ingested = Counter(
            "recsys_events_ingested",
            "Events stored by POST /v1/events.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "recsys_model_reloads",
            "Successful model reloads, from the admin endpoint or the directory watcher.",
            registry=self.registry,
        )
        self.reload_failures = Counter(
            "recsys_model_reload_failures",
            "Model reloads that failed and kept the previous model serving.",
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, duration_s: float) -> None:
        """Count one finished request and record its duration.

        ``route`` must be a route template such as ``/v1/items/{item_id}/similar``
        or :data:`UNMATCHED_ROUTE`, never the raw path, so the label values stay few.
        """
        method = method if method in _KNOWN_METHODS else "OTHER"
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.request_duration.labels(route=route, method=method).observe(duration_s)

    def set_model(self, version: str, model_class: str) -> None:
        """Make ``recsys_model_info`` show only the given model."""
        self.model_info.clear()
        self.model_info.labels(version=version, model_class=model_class).set(1)

    def render(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)
