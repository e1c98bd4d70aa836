"""A tiny self-contained PyFlink Table API job for testing the cluster tooling (jobs/ops/).

It is shaped like the project's jobs: run as ``python -m cluster_sample run <name> <out_dir>``,
shipped with ``-pyfs``, with a Python UDF that imports a sibling module (so a test fails if the
shipped package is not importable on the TaskManager's Python workers).
"""
