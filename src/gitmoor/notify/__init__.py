"""Events and notification sinks; never fails a reconcile."""
