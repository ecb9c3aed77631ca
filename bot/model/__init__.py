"""Model backends, the runner thread and the embedded model store."""
