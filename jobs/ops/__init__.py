"""Operations tooling: the local Flink cluster, releases, deploys and their ledger."""
