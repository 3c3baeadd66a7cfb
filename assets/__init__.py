"""Asset modules, one per pipeline stage: thin wrappers that call recsys/ and record metadata."""
