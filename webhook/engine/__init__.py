"""The engine: from a pod, its ServiceAccount's annotations and the operator's settings to the JSON patch.

Pure and I/O-free, so the server, `inject` and `explain` share one definition of the mutation and every rule
is tested without a server. It imports no other part of the package (only `webhook.errors`).
"""
