"""The logic of the offline commands: OIDC discovery and thumbprints, trust policies, `inject` and `explain`."""
