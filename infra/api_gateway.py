"""What the deployed REST API needs beyond what Chalice generates, for both deploy paths.

* Binary media types ``*/*``: every request body reaches the function base64-encoded, so the bytes a
  provider signed are the bytes Hookway verifies and stores, whatever the Content-Type. Responses are
  unaffected (the Lambda proxy returns them as text unless the function marks them base64).
* Gateway responses: API Gateway's own answers (an unknown path, a body over 10 MB, throttling, a timed-out
  integration) in Hookway's error shape ``{"error": {"code", "message"}}`` instead of ``{"message": ...}``.

``make package`` puts both into the REST API's OpenAPI definition (the merge template); ``make deploy``
applies the same values through the API Gateway API after ``chalice deploy`` (which imports its own
definition and has no hook for extensions), then redeploys the stage.
"""

from __future__ import annotations

import json
from typing import Any

BINARY_MEDIA_TYPES = ["*/*"]

# response type -> (status, Hookway error code, message). A status of None keeps API Gateway's own.
GATEWAY_RESPONSES: dict[str, tuple[int | None, str, str]] = {
    # A REST API answers an unknown path or method with 403 "Missing Authentication Token".
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no such route"),
    "RESOURCE_NOT_FOUND": (404, "not_found", "no such route"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "the request is larger than API Gateway's 10 MB"),
    "THROTTLED": (429, "rate_limited", "too many requests; retry later"),
    "QUOTA_EXCEEDED": (429, "rate_limited", "the request quota is exhausted; retry later"),
    "INTEGRATION_TIMEOUT": (504, "timeout", "the request took longer than 29 s; retry later"),
    "INTEGRATION_FAILURE": (502, "bad_gateway", "the function failed; retry later"),
    "ACCESS_DENIED": (403, "forbidden", "access denied"),
    "UNAUTHORIZED": (401, "unauthorized", "unauthorized"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "unsupported_media_type", "unsupported media type"),
    "BAD_REQUEST_BODY": (400, "bad_request", "the request is malformed"),
    "BAD_REQUEST_PARAMETERS": (400, "bad_request", "the request is malformed"),
    "DEFAULT_4XX": (None, "bad_request", "the request was refused"),
    "DEFAULT_5XX": (None, "internal_error", "an internal error occurred; retry later"),
}


def _template(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))


def gateway_responses() -> dict[str, dict[str, Any]]:
    """The ``x-amazon-apigateway-gateway-responses`` extension of the REST API's definition."""
    out: dict[str, dict[str, Any]] = {}
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        doc: dict[str, Any] = {
            "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"},
            "responseTemplates": {"application/json": _template(code, message)},
        }
        if status is not None:
            doc["statusCode"] = status
        out[response_type] = doc
    return out


def definition_patch() -> dict[str, Any]:
    """What the merge template adds to Chalice's REST API definition."""
    return {
        "x-amazon-apigateway-binary-media-types": BINARY_MEDIA_TYPES,
        "x-amazon-apigateway-gateway-responses": gateway_responses(),
    }


def apply(client: Any, rest_api_id: str, stage: str, *, disable_execute_api: bool = False) -> list[str]:
    """Set binary media types and gateway responses on a deployed REST API, then redeploy its stage.

    Idempotent: each call converges the API on the same values. Returns what it did, for the log.
    """
    done: list[str] = []
    api = client.get_rest_api(restApiId=rest_api_id)
    # The type is named in the path (as API Gateway documents it) and in the value (which PatchOperation
    # allows for "add", and which emulators read): both name the same type.
    patches: list[dict[str, str]] = [
        {"op": "add", "path": "/binaryMediaTypes/" + t.replace("/", "~1"), "value": t}
        for t in BINARY_MEDIA_TYPES
        if t not in (api.get("binaryMediaTypes") or [])
    ]
    if bool(api.get("disableExecuteApiEndpoint")) != disable_execute_api:
        patches.append(
            {"op": "replace", "path": "/disableExecuteApiEndpoint", "value": str(disable_execute_api).lower()}
        )
    if patches:
        client.update_rest_api(restApiId=rest_api_id, patchOperations=patches)
        done.append(f"patched the REST API: {', '.join(p['path'] for p in patches)}")
    for response_type, doc in gateway_responses().items():
        kwargs: dict[str, Any] = {
            "restApiId": rest_api_id,
            "responseType": response_type,
            "responseParameters": doc["responseParameters"],
            "responseTemplates": doc["responseTemplates"],
        }
        if "statusCode" in doc:
            kwargs["statusCode"] = str(doc["statusCode"])
        client.put_gateway_response(**kwargs)
    done.append(f"set {len(GATEWAY_RESPONSES)} gateway responses")
    client.create_deployment(
        restApiId=rest_api_id, stageName=stage, description="hookway post-deploy settings"
    )
    done.append(f"redeployed stage {stage}")
    return done
