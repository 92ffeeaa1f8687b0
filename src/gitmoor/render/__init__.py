"""Artifact + path -> manifests: plain YAML/JSON, Kustomize, Helm, SOPS; errors carry file and line.

Never reads the cluster."""
