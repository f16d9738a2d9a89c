"""medval.validation — locked models, versioned cohorts, protocols, runs and statistics."""

__version__ = "0.1.0"
