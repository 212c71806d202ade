"""The local cluster: `make cluster` (deploy/cluster.py) and its configuration files."""
