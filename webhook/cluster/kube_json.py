"""Plain JSON requests through a `kubernetes.client.ApiClient`, for read-modify-write of whole objects.

The generated client's typed models drop fields they do not know; an object read through them and written
back would lose whatever a newer API server added. These helpers keep the object as the server sent it,
and reuse the ApiClient's connection pool, authentication and TLS settings.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

DEFAULT_TIMEOUT = 10.0
JSON = "application/json"
_AUTH_SETTINGS = ["BearerToken"]


class KubeJson:
    def __init__(self, api_client: ApiClient, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._api_client = api_client
        self._timeout = timeout

    def get(self, path: str, *, accept: str = JSON) -> dict[str, Any] | None:
        """The object at `path`, or None when the API server answers 404.

        `accept` is the Accept header: a few documents are served only under a media type of their own
        (`/openid/v1/jwks` as `application/jwk-set+json`), and kube-apiserver answers 406 to any other.
        """
        try:
            return self._request("GET", path, accept=accept)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create(self, collection_path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST; ApiException 409 when the object already exists."""
        return self._request("POST", collection_path, body=body)

    def replace(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT; ApiException 409 when body's metadata.resourceVersion is no longer current."""
        return self._request("PUT", path, body=body)

    def _request(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, accept: str = JSON
    ) -> dict[str, Any]:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = self._api_client.param_serialize(
            method=method, resource_path=path, header_params=headers, body=body, auth_settings=_AUTH_SETTINGS
        )
        response = self._api_client.call_api(*request, _request_timeout=self._timeout)
        data: bytes = response.response.data
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(
                http_resp=response, body=data.decode("utf-8", "replace"), data=None
            )
        decoded: dict[str, Any] = json.loads(data)
        return decoded
