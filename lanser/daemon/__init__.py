"""Warm per-workspace daemon and its thin client.

The client half (``paths``, ``client``) imports only the standard library,
so a CLI call that finds a warm daemon costs little more than starting
Python and click.  The server half (``server``) holds one Orchestrator.
"""
