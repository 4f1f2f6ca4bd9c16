"""Kubernetes operator for Walrus storage networks (Kopf)."""
