"""HTTP plumbing under the client: total deadlines and Stop for calls in flight (deadlines.py),
and bounded, parsed, redacted answers (answers.py). Knows nothing of the API's endpoints."""
