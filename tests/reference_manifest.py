"""What a Deployment written for amazon-eks-pod-identity-webhook runs: the `command:` of the reference's
deploy/deployment-base.yaml, which mounts the certificate Secret at /etc/webhook/certs and leaves the port at
its default, 443."""

REFERENCE_PROGRAM = "/webhook"
REFERENCE_CERTIFICATES = "/etc/webhook/certs"
REFERENCE_FLAGS = (
    "--in-cluster=false",
    "--namespace=default",
    "--service-name=pod-identity-webhook",
    "--annotation-prefix=eks.amazonaws.com",
    "--token-audience=sts.amazonaws.com",
    "--logtostderr",
)

REFERENCE_COMMAND_LINE = (
    ("--port", "443"),
    ("--metrics-port", "9999"),
    ("--kubeconfig", ""),
    ("--kube-api", ""),
    ("--tls-cert", "/etc/webhook/certs/tls.crt"),
    ("--tls-key", "/etc/webhook/certs/tls.key"),
    ("--tls-cipher-suites", ""),
    ("--tls-min-version", ""),
    ("--in-cluster", "true"),
    ("--service-name", "pod-identity-webhook"),
    ("--namespace", "eks"),
    ("--tls-secret", "pod-identity-webhook"),
    ("--annotation-prefix", "eks.amazonaws.com"),
    ("--token-audience", "sts.amazonaws.com"),
    ("--token-mount-path", "/var/run/secrets/eks.amazonaws.com/serviceaccount"),
    ("--token-expiration", "86400"),
    ("--aws-default-region", ""),
    ("--sts-regional-endpoint", "false"),
    ("--watch-config-map", "false"),
    ("--compose-role-arn", "false"),
    ("--watch-container-credentials-config", ""),
    ("--container-credentials-audience", "pods.eks.amazonaws.com"),
    ("--container-credentials-token-mount-path", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"),
    ("--container-credentials-token-volume-name", "eks-pod-identity-token"),
    ("--container-credentials-token-path", "eks-pod-identity-token"),
    ("--container-credentials-full-uri", "http://169.254.170.23/v1/credentials"),
    ("--version", "false"),
    ("--enable-debugging-handlers", "false"),
    ("--service-account-lookup-grace-period", "0s"),
    ("--resync-period", "60s"),
)
"""The reference's whole command line as its main.go declares it (SPEC §5): each flag and its default, klog's
apart."""
KLOG_FLAGS = (
    "--logtostderr", "--alsologtostderr", "-v", "--v", "--vmodule", "--log_dir", "--log_file",
    "--log_file_max_size", "--stderrthreshold", "--log_backtrace_at", "--add_dir_header", "--skip_headers",
    "--skip_log_headers", "--one_output",
)  # fmt: skip
