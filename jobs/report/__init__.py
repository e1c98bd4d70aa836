"""Reporting over ClickHouse: the HTML report (queries, pure figures, the page) and the Grafana dashboard."""
