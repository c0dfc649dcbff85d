"""WAL Service: an append-only log store with per-log gapless LSNs on PostgreSQL."""

__version__ = "0.1.0"
