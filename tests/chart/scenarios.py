"""Values the chart is rendered with: each certificate mode on defaults, and one install that sets everything."""

from __future__ import annotations

from typing import Any

CA_BUNDLE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

Values = dict[str, Any]

SELF: Values = {"certificates": {"mode": "self"}}
CERT_MANAGER: Values = {"certificates": {"mode": "cert-manager"}}
SECRET: Values = {
    "certificates": {"mode": "secret", "secret": {"name": "corp-webhook-tls", "caBundle": CA_BUNDLE}}
}

EVERYTHING: Values = {
    "replicaCount": 3,
    "image": {
        "repository": "registry.example.com/platform/pod-identity-webhook",
        "digest": "sha256:" + "a" * 64,
    },
    "imagePullSecrets": [{"name": "registry-credentials"}],
    "config": {
        "annotationPrefix": "iam.example.com",
        "tokenAudience": "sts.example.com",
        "tokenMountPath": "/var/run/secrets/iam.example.com/serviceaccount",
        "tokenExpiration": 3600,
        "awsDefaultRegion": "eu-west-1",
        "stsRegionalEndpoint": True,
        "containerCredentials": {"fullUri": "http://[fd00:ec2::23]/v1/credentials"},
        "apiFallbackTimeout": 2.5,
        "tlsMinVersion": "1.3",
        "logFormat": "text",
        "logLevel": "debug",
    },
    "mappings": {
        "enabled": True,
        "roles": {
            "team-*/deployer": {"RoleARN": "arn:aws:iam::111122223333:role/deployer", "UseRegionalSTS": True}
        },
    },
    "podIdentity": {"enabled": True, "identities": [{"namespace": "shop", "serviceAccount": "checkout"}]},
    "webhook": {
        "failurePolicy": "Fail",
        "timeoutSeconds": 10,
        "excludeNamespaces": ["kube-system", "monitoring"],
        "namespaceSelectorExpressions": [{"key": "team", "operator": "Exists"}],
        "objectSelectorExpressions": [{"key": "app", "operator": "NotIn", "values": ["legacy"]}],
        "annotations": {"example.com/owner": "platform"},
    },
    "serviceAccountWarnings": {"timeoutSeconds": 3},
    "missedCredentials": {
        "enabled": True,
        "intervalSeconds": 300,
        "repair": {"enabled": True, "intervalSeconds": 30},
    },
    "certificates": {
        "mode": "cert-manager",
        "certManager": {"issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}},
    },
    "clusterDomain": "corp.internal",
    "metrics": {
        "port": 9100,
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {
            "enabled": True,
            "labels": {"release": "prometheus"},
            "runbookBaseUrl": "https://wiki.example.com/pod-identity-webhook/runbook",
            "slowAdmissions": {"p99Seconds": 0.25, "for": "30m", "severity": "critical"},
        },
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Platform"}},
    },
    "serviceAccount": {"name": "identity-webhook", "annotations": {"example.com/owner": "platform"}},
    "priorityClassName": "",
    "podAntiAffinity": "hard",
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "pod-identity-webhook"}},
        }
    ],
    "nodeSelector": {"kubernetes.io/os": "linux", "node-role.example.com/infra": "true"},
    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    "extraArgs": ["--max-request-bytes=1048576"],
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"}],
    "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
    "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    "podLabels": {"team": "platform"},
    "podAnnotations": {"example.com/scrape": "true"},
}

ALL: dict[str, Values] = {
    "self": SELF,
    "cert-manager": CERT_MANAGER,
    "secret": SECRET,
    "everything": EVERYTHING,
}
CUSTOM_RESOURCE_KINDS = {"Certificate", "Issuer", "ServiceMonitor", "PrometheusRule"}
"""Kinds from cert-manager and the Prometheus Operator, which kubernetes-validate has no schema for."""
