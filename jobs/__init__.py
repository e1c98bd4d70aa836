"""The Flink jobs of netpulse and the runtime, connectors and tooling they share."""
