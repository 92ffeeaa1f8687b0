"""Image update automation's work outside the cluster: registry scans, tag policies, marker
edits of YAML files and the commit pushed back to Git."""
