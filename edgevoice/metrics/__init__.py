"""Fleet metrics: the daemon's records as Prometheus metrics, written for node_exporter's textfile collector."""
