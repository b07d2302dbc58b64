"""Layer 4: data and metrics for the paper's tasks."""
