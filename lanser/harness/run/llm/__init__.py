"""A model-driven agent over any OpenAI-compatible Chat Completions endpoint (``--agent llm:MODEL``).

:mod:`.client` (HTTP, retries), :mod:`.tools` (the tool schemas and their
translation into runner actions), :mod:`.agent` (the loop, budgets,
accounting), :mod:`.trajectory` (every model call recorded, JSONL export).
See docs/llm-agent.md.
"""
