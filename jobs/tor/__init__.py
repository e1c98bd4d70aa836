"""The Tor relay time series: collect CollecTor documents, run the relay job, write, summarize."""
