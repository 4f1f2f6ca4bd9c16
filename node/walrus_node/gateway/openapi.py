"""The OpenAPI 3.1 document served at ``/v1/api``: the routes this gateway serves, with
Walrus's paths, parameters and JSON shapes.

Who calls it: :mod:`walrus_node.gateway.app`. Pure: settings in, a dict out.
"""

from __future__ import annotations

from typing import Any

from walrus_node.gateway.settings import GatewaySettings

__all__ = ["document"]

_ERROR = {"$ref": "#/components/schemas/Status"}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code, text in [
            (400, "The request is malformed"),
            (401, "A valid token is needed"),
            (403, "The token does not allow this upload"),
            (404, "The blob is not stored"),
            (410, "The blob was deleted or expired"),
            (413, "The blob is too large"),
            (416, "The range cannot be served"),
            (429, "Too many uploads are waiting"),
            (503, "Not enough storage nodes answered, or no upload slot came free"),
        ]
        if code in codes
    }


_BLOB_ID = {
    "name": "blob_id",
    "in": "path",
    "required": True,
    "description": "The blob ID: 43 URL-safe base64 characters.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
}

_READ = {
    "summary": "Read a blob",
    "description": (
        "Streams the blob's bytes. A Range header (bytes=a-b, bytes=a-, bytes=-n; one "
        "range) gets 206 with only the covering slivers or symbols fetched. The ETag is the "
        "blob ID and the response may be cached forever."
    ),
    "parameters": [_BLOB_ID],
    "responses": {
        "200": {
            "description": "The blob",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
        "206": {"description": "The requested byte range"},
        "304": {"description": "The blob is unchanged (If-None-Match)"},
        **_errors(400, 404, 410, 416, 503),
    },
}

_STORE = {
    "summary": "Store a blob",
    "description": "Stores the request body for 1 or more epochs.",
    "parameters": [
        {
            "name": "epochs",
            "in": "query",
            "description": "Epochs ahead of the current one to store the blob for (default 1).",
            "schema": {"type": "integer", "minimum": 1},
        },
        {
            "name": "deletable",
            "in": "query",
            "description": "Store a deletable blob (the default).",
            "schema": {"type": "boolean"},
        },
        {
            "name": "permanent",
            "in": "query",
            "description": "Store a permanent blob instead of a deletable one.",
            "schema": {"type": "boolean"},
        },
        {
            "name": "force",
            "in": "query",
            "description": "Store even if the blob is already certified long enough.",
            "schema": {"type": "boolean"},
        },
        {
            "name": "encoding_type",
            "in": "query",
            "schema": {"type": "string", "enum": ["RS2"]},
        },
        {
            "name": "X-Walrus-Owner",
            "in": "header",
            "description": "Base64 Ed25519 public key that owns the deletable blob (with "
            "X-Walrus-Owner-Proof); without it the publisher's per-tenant key owns it.",
            "schema": {"type": "string"},
        },
        {
            "name": "X-Walrus-Owner-Proof",
            "in": "header",
            "description": "Base64 Ed25519 signature by the owner key of "
            "'walrus-gateway-owner-proof:v1:' followed by the raw 32-byte public key.",
            "schema": {"type": "string"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    },
    "responses": {
        "200": {
            "description": "The blob is stored",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BlobStoreResult"}}
            },
        },
        **_errors(400, 401, 403, 413, 429, 503),
    },
}

_SCHEMAS: dict[str, Any] = {
    "Status": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "message", "details"],
                "properties": {
                    "status": {"type": "string"},
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    },
    "BlobStoreResult": {
        "oneOf": [
            {
                "type": "object",
                "required": ["newlyCreated"],
                "properties": {
                    "newlyCreated": {
                        "type": "object",
                        "required": ["blobObject", "resourceOperation", "cost"],
                        "properties": {
                            "blobObject": {"type": "object"},
                            "resourceOperation": {"type": "object"},
                            "cost": {"type": "integer"},
                        },
                    }
                },
            },
            {
                "type": "object",
                "required": ["alreadyCertified"],
                "properties": {
                    "alreadyCertified": {
                        "type": "object",
                        "required": ["blobId", "endEpoch"],
                        "properties": {
                            "blobId": {"type": "string"},
                            "event": {"type": "null", "description": "permanent blobs"},
                            "object": {
                                "type": "string",
                                "description": "deletable blobs: the owner's registration "
                                "(named by the blob ID; there are no Sui objects)",
                            },
                            "endEpoch": {"type": "integer"},
                        },
                    }
                },
            },
        ]
    },
}


def document(settings: GatewaySettings) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    if settings.aggregator:
        paths["/v1/blobs/{blob_id}"] = {"get": _READ, "head": {**_READ, "summary": "Blob headers"}}
    if settings.publisher:
        paths["/v1/blobs"] = {"put": _STORE}
    if settings.publisher and settings.jwt_key_file is not None:
        paths["/v1/blobs"]["put"] = {**_STORE, "security": [{"bearer": []}]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Walrus gateway", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
