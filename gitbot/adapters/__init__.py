"""Adapters: one module per outside system (Git, YAML manifests, Prometheus, webhooks, chat)."""
