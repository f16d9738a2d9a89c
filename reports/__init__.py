"""medval.reports — rendering only: results.json to HTML and PDF."""
