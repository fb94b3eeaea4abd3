#!/usr/bin/env bash
# End-to-end on a real kind cluster (`make e2e-kind`): create the cluster with its own token issuer, build
# and load the image, install the chart, and check inside running pods that IRSA, the skip label and EKS
# Pod Identity work, before and after a `helm upgrade`. The checks are tests/e2e/pod_assertions.py, the same
# ones the local tests run on pods mutated here.
#
# Needs docker, kind, kubectl, openssl and internet access (the base image, kind's node image). helm comes
# from scripts/ensure-helm. Environment:
#   KIND_CLUSTER_NAME  (default piw-e2e)   KEEP_CLUSTER=1 leaves the cluster up for a look afterwards
#   ISSUER_URL         token issuer of the cluster (default https://oidc.pod-identity-webhook.invalid/e2e)
#   KIND_NODE_IMAGE    node image (default: kind's)    BASE_IMAGE  base of the webhook image (default: Dockerfile's)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_NAME=${KIND_CLUSTER_NAME:-piw-e2e}
export ISSUER_URL=${ISSUER_URL:-https://oidc.pod-identity-webhook.invalid/e2e}
IMAGE_REPOSITORY="pod-identity-webhook"
IMAGE_TAG=e2e
RELEASE="pod-identity-webhook"
WEBHOOK_NAMESPACE="pod-identity-webhook"
APPS=e2e-apps
ROLE_ARN=arn:aws:iam::111122223333:role/e2e-irsa
REGION=us-west-2
IRSA_TOKEN=/var/run/secrets/eks.amazonaws.com/serviceaccount/token
POD_IDENTITY_TOKEN=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token
PYTHON=${PYTHON:-$REPO_ROOT/.venv/bin/python}

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'kind.sh: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local status=$?
    if [[ $status -ne 0 ]]; then
        kubectl --context "$CONTEXT" -n "$WEBHOOK_NAMESPACE" logs -l app.kubernetes.io/name=pod-identity-webhook \
            --tail=50 --prefix 2>/dev/null || true
    fi
    if [[ ${KEEP_CLUSTER:-0} != 1 ]]; then
        kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}
k() { kubectl --context "$CONTEXT" "$@"; }
check() { "$PYTHON" -m tests.e2e.pod_assertions "$@"; }

install_chart() {
    "$HELM" upgrade --install "$RELEASE" charts/pod-identity-webhook --kube-context "$CONTEXT" \
        --namespace "$WEBHOOK_NAMESPACE" --create-namespace --wait --timeout 5m \
        --set image.repository="$IMAGE_REPOSITORY" --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
        --set config.awsDefaultRegion="$REGION" \
        --set podIdentity.enabled=true \
        --set "podIdentity.identities[0].namespace=$APPS" \
        --set "podIdentity.identities[0].serviceAccount=pod-identity" \
        "$@"
}

ca_bundle() {
    k get mutatingwebhookconfiguration "$RELEASE" -o jsonpath='{.webhooks[0].clientConfig.caBundle}'
}

wait_for_ca_bundle() {
    local _
    for _ in $(seq 1 60); do
        [[ -n $(ca_bundle) ]] && return 0
        sleep 2
    done
    die "the webhook never wrote its CA into MutatingWebhookConfiguration $RELEASE"
}

# The one pod of a Deployment, once the rollout is done and any pod it replaced is gone.
current_pod() {
    local app=$1 pods _
    k -n "$APPS" rollout status "deployment/$app" --timeout=180s >&2
    for _ in $(seq 1 60); do
        pods=$(k -n "$APPS" get pod -l "app=$app" -o jsonpath='{.items[*].metadata.name}')
        if [[ -n $pods && $pods != *" "* ]]; then
            echo "$pods"
            return 0
        fi
        sleep 2
    done
    die "deployment $app still has more than one pod: $pods"
}

verify_irsa() {
    local pod
    pod=$(current_pod irsa)
    say "IRSA pod $pod"
    k -n "$APPS" get pod "$pod" -o json >"$work/irsa.json"
    check irsa "$work/irsa.json" --role-arn "$ROLE_ARN" --region "$REGION" --skip sidecar
    k -n "$APPS" exec "$pod" -c app -- cat "$IRSA_TOKEN" >"$work/irsa.token"
    check token "$work/irsa.token" --audience sts.amazonaws.com --namespace "$APPS" --service-account irsa \
        --issuer "$ISSUER_URL" --lifetime 86400
    k -n "$APPS" exec "$pod" -c app -- env >"$work/irsa.env"
    check environment "$work/irsa.env" "AWS_ROLE_ARN=$ROLE_ARN" "AWS_WEB_IDENTITY_TOKEN_FILE=$IRSA_TOKEN" \
        "AWS_REGION=$REGION" "AWS_DEFAULT_REGION=$REGION"
}

verify_pod_identity() {
    local pod
    pod=$(current_pod pod-identity)
    say "Pod Identity pod $pod"
    k -n "$APPS" get pod "$pod" -o json >"$work/pod-identity.json"
    check pod-identity "$work/pod-identity.json"
    k -n "$APPS" exec "$pod" -c app -- cat "$POD_IDENTITY_TOKEN" >"$work/pod-identity.token"
    check token "$work/pod-identity.token" --audience pods.eks.amazonaws.com --namespace "$APPS" \
        --service-account pod-identity --issuer "$ISSUER_URL"
}

verify_skip_label() {
    say "pod labelled skip-pod-identity-webhook"
    k -n "$APPS" delete pod skipped --ignore-not-found --wait >/dev/null
    skip_labelled_pod | k apply -f - >/dev/null
    k -n "$APPS" wait --for=condition=Ready pod/skipped --timeout=180s >/dev/null
    k -n "$APPS" get pod skipped -o json >"$work/skipped.json"
    check untouched "$work/skipped.json"
}

# Every workload runs the webhook's own image (already on the node: nothing to pull) and only sleeps, as
# the image's user, with an fsGroup so that user can read the projected token.
sleeper() {
    printf '{name: %s, image: "%s", imagePullPolicy: Never, command: [sleep, infinity]}' \
        "$1" "$IMAGE_REPOSITORY:$IMAGE_TAG"
}
POD_SECURITY='{runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, runAsNonRoot: true}'

# A pod the webhook must leave alone although its ServiceAccount has a role.
skip_labelled_pod() {
    cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: skipped
  namespace: $APPS
  labels:
    eks.amazonaws.com/skip-pod-identity-webhook: "true"
spec:
  serviceAccountName: irsa
  securityContext: $POD_SECURITY
  containers: [$(sleeper app)]
EOF
}

workloads() {
    cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $APPS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: irsa
  namespace: $APPS
  annotations:
    eks.amazonaws.com/role-arn: $ROLE_ARN
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: pod-identity
  namespace: $APPS
EOF
    local app
    for app in irsa pod-identity; do
        cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $app
  namespace: $APPS
spec:
  replicas: 1
  selector:
    matchLabels: {app: $app}
  template:
    metadata:
      labels: {app: $app}
      annotations:
        eks.amazonaws.com/skip-containers: sidecar
    spec:
      serviceAccountName: $app
      terminationGracePeriodSeconds: 1
      securityContext: $POD_SECURITY
      containers: [$(sleeper app), $(sleeper sidecar)]
EOF
    done
}

main() {
    if [[ ${1:-} == --print-workloads ]]; then
        # The manifests this run applies, for the local test that validates them.
        workloads
        printf -- '---\n'
        skip_labelled_pod
        return
    fi
    for tool in docker kind kubectl openssl; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    cd "$REPO_ROOT"
    [[ -x $PYTHON ]] || make --no-print-directory .venv/.installed
    HELM=$(scripts/ensure-helm)
    CONTEXT=kind-$CLUSTER_NAME
    work=$(mktemp -d)
    trap cleanup EXIT

    say "kind cluster $CLUSTER_NAME (issuer $ISSUER_URL)"
    KEYS_DIR="$work/keys" deploy/kind/create-cluster "$CLUSTER_NAME"

    say "image $IMAGE_REPOSITORY:$IMAGE_TAG"
    scripts/build-image "$IMAGE_REPOSITORY:$IMAGE_TAG" "${BASE_IMAGE:-}" >/dev/null
    kind load docker-image "$IMAGE_REPOSITORY:$IMAGE_TAG" --name "$CLUSTER_NAME"

    say "helm install"
    install_chart
    wait_for_ca_bundle
    local bundle_before
    bundle_before=$(ca_bundle)

    say "workloads"
    workloads | k apply -f -
    verify_irsa
    verify_pod_identity
    verify_skip_label

    say "helm upgrade"
    install_chart --set config.logLevel=debug
    [[ $(ca_bundle) == "$bundle_before" ]] || die "helm upgrade changed the webhook's caBundle"
    k -n "$APPS" rollout restart deployment/irsa deployment/pod-identity
    verify_irsa
    verify_pod_identity
    verify_skip_label

    say "end-to-end passed"
}

main "$@"
