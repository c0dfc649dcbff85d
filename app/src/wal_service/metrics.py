"""Prometheus metrics (one registry per application instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "wal_http_requests_total",
            "HTTP requests by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "wal_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "wal_http_requests_in_flight", "HTTP requests being served.", registry=self.registry
        )
        self.records_appended = Counter(
            "wal_records_appended_total",
            "Records committed by this process.",
            registry=self.registry,
        )
        self.flush_seconds = Histogram(
            "wal_group_commit_duration_seconds",
            "Duration of one group-commit transaction.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=self.registry,
        )
        self.flush_requests = Histogram(
            "wal_group_commit_requests",
            "Append requests committed together in one transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.flush_errors = Counter(
            "wal_group_commit_errors_total",
            "Group-commit transactions that failed.",
            registry=self.registry,
        )
        self.inflight_bytes = Gauge(
            "wal_inflight_body_bytes",
            "Body bytes reserved by requests in flight: appended bodies and read pages"
            " (at most MAX_INFLIGHT_BYTES).",
            registry=self.registry,
        )
        # By reason only: which token was tried never becomes a label.
        self.auth_failures = Counter(
            "wal_auth_failures_total",
            "Requests under /api/v1/logs/ refused for their API key: missing, malformed, unknown"
            " (401) or forbidden (a reader appending, 403).",
            ["reason"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "wal_ready", "1 when the readiness check last succeeded.", registry=self.registry
        )
        self.draining = Gauge(
            "wal_draining", "1 once shutdown (drain) has started.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
