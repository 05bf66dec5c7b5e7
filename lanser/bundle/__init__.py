"""Analysis Bundles: models, normalisation, hashing (pure)."""

from __future__ import annotations

from lanser.bundle.hashing import bundle_id, canonical_json, finalize, render_json
from lanser.bundle.models import Bundle, Request

__all__ = ["Bundle", "Request", "bundle_id", "canonical_json", "finalize", "render_json"]
