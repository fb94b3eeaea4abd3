"""The admission server: AdmissionReview bytes in, the engine's answer out, over HTTPS.

Only `assembly` puts the parts together (cluster sources, TLS, the HTTP app); the other modules know nothing
of where ServiceAccounts or certificates come from.
"""
