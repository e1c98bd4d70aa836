"""Benchmark scripts: a seeded event generator, two baselines and the runner (not tests)."""
