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
