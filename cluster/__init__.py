"""A small Shopwright cluster in network namespaces on one machine, and the checks run against it.

`make cluster-test` (as root) runs `python -m cluster.run`; see README.md and docs/operations.md.
"""
