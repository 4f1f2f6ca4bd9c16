"""Crash-safe local storage of metadata, slivers (per shard) and certificates (LMDB)."""
