"""The manifests that install gitmoor into a cluster: CRDs, RBAC, the agent Deployment."""
