"""Pinned language servers: registry, process lifecycle, sessions, pool."""
