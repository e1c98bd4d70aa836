"""Operations tooling: the cluster, deploys, migrations, builds and the test services.

The cluster commands, the local Flink cluster, releases, deploys and their ledger, ClickHouse
migrations, the jar and Java-function builds, and the Kafka broker of the tests and the demo.
"""
