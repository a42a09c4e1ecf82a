"""What reaches an endpoint: event patterns (``pattern``) and an endpoint's whole filter (``filter``)."""
