"""pod-identity-webhook: gives pods AWS IAM roles through their ServiceAccounts (IRSA and EKS Pod Identity)."""

__version__ = "0.1.0"
