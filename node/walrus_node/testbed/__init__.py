"""Local networks of node processes on loopback, for demos, tests and benchmarks."""
