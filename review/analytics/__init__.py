"""What managers and monitoring read: the quality dashboard and the Prometheus metrics. Reads only."""
