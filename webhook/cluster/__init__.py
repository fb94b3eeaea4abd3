"""The cluster side: Kubernetes objects from the API server, or from the files that stand in for it.

The API client, list+watch, the ServiceAccount cache and its sources, and the watchers of role mappings and
Pod Identity associations, which feed the engine the configuration it reads.
"""
