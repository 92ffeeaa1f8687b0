"""Git source -> Artifact: remote-head check, shallow fetch, checkout, verification, ignore rules.

Touches neither manifests nor the cluster."""
