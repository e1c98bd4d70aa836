"""Connectors and writers: source DDL, ClickHouse and Parquet writers, retries, staged bulk loads.

Jobs hold no connector options: the source tables (files, Kafka) are rendered here, and every
row leaves a job through the writers here (jobs/runtime.py wires them).
"""
