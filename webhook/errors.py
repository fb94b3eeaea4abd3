"""The exceptions this package raises on purpose: each carries a message an operator can act on."""


class WebhookError(Exception):
    """Base of every error the webhook raises deliberately."""


class ConfigurationError(WebhookError):
    """A flag, file or value the operator supplied cannot be used."""


class BadRequestError(WebhookError):
    """An admission request that is not a well-formed AdmissionReview for a pod (answered with HTTP 400)."""


class ServiceAccountSourceError(WebhookError):
    """ServiceAccounts could not be read from the cluster or from the local file."""


class CertificateError(WebhookError):
    """A serving certificate or key could not be loaded, generated or stored."""


class InstanceMetadataError(ConfigurationError):
    """The EC2 instance metadata, needed for `--compose-role-arn`, could not be read."""


class ClusterError(WebhookError):
    """Pods could not be read from the cluster, or an Event or eviction could not be written."""
