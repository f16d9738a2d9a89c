"""medval.monitoring — production logs, drift, label-free performance, control charts, dashboard."""
