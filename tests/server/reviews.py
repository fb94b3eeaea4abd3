"""AdmissionReviews shaped exactly as kube-apiserver sends them, and reading the webhook's answers."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

Json = dict[str, Any]

POD_GVK = {"group": "", "version": "v1", "kind": "Pod"}
POD_GVR = {"group": "", "version": "v1", "resource": "pods"}
REPLICASET_CONTROLLER = {
    "username": "system:serviceaccount:kube-system:replicaset-controller",
    "uid": "5c6e2f0a-3f7e-4c55-9a3c-0d9c0b6f1e21",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
}


def from_replicaset(pod: Json) -> Json:
    """The pod as a Deployment's ReplicaSet creates it: no name yet, only generateName, an owner and the
    fields the API server defaults before mutating admission."""
    result = copy.deepcopy(pod)
    metadata = result["metadata"]
    metadata.pop("name", None)
    metadata["generateName"] = "checkout-7d9f8c6b5-"
    metadata.setdefault("labels", {}).update({"app": "checkout", "pod-template-hash": "7d9f8c6b5"})
    metadata["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "checkout-7d9f8c6b5",
            "uid": "0b7d3c0e-8d4e-4a41-b1f0-6f4f4b7e0c11",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = result["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccount", spec.get("serviceAccountName", "default"))
    for container in spec["containers"]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("resources", {})
    return result


def admission_review(
    pod: Json | None,
    *,
    api_version: str = "admission.k8s.io/v1",
    uid: str | None = None,
    dry_run: bool = False,
    operation: str = "CREATE",
    kind: Json = POD_GVK,
    namespace: str | None = None,
) -> Json:
    """A review of `pod` as the API server sends it for a pod a ReplicaSet controller creates: `oldObject`
    null, CreateOptions, the controller's userInfo, and `name` absent when the pod has only generateName."""
    metadata = (pod or {}).get("metadata", {})
    request: Json = {
        "uid": str(uuid.uuid4()) if uid is None else uid,
        "kind": kind,
        "resource": POD_GVR,
        "requestKind": kind,
        "requestResource": POD_GVR,
        "namespace": namespace or metadata.get("namespace", "default"),
        "operation": operation,
        "userInfo": REPLICASET_CONTROLLER,
        "object": pod,
        "oldObject": None,
        "dryRun": dry_run,
        "options": {
            "kind": "CreateOptions",
            "apiVersion": "meta.k8s.io/v1",
            "fieldManager": "kube-controller-manager",
        },
    }
    if metadata.get("name"):
        request["name"] = metadata["name"]
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def encode(review: object) -> bytes:
    return json.dumps(review).encode()


def decoded_patch(answer: Json) -> list[Json]:
    """The JSON patch of an AdmissionReview answer, checking the encoding the API server requires."""
    response = answer["response"]
    if "patch" not in response:
        assert "patchType" not in response
        return []
    assert response["patchType"] == "JSONPatch"
    patch: list[Json] = json.loads(base64.b64decode(response["patch"], validate=True))
    return patch


def allowing_answer_patch(answer: Json, *, review: Json) -> list[Json]:
    """The patch of an answer to `review`, after checking what every answer must carry: the review's
    apiVersion and kind, its request's uid, and `allowed: true` (this webhook never denies a pod)."""
    assert answer["apiVersion"] == review["apiVersion"]
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == review["request"]["uid"]
    assert answer["response"]["allowed"] is True
    return decoded_patch(answer)
