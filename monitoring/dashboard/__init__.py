"""The monitoring dashboard: a static site (:mod:`.site`) and a local server with live refresh (:mod:`.server`)."""
