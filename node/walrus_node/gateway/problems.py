"""JSON error bodies in the shape Walrus's daemon sends, and the reasons it names.

Who calls it: the aggregator, publisher and authentication. A body looks like::

    {"error": {"status": "NOT_FOUND", "code": 404, "message": "...",
               "details": [{"@type": "ErrorInfo", "reason": "BLOB_NOT_FOUND",
                            "domain": "daemon.walrus.space"}]}}
"""

from __future__ import annotations

from starlette.responses import JSONResponse

__all__ = ["error"]

DOMAIN = "daemon.walrus.space"

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "GONE",
    411: "LENGTH_REQUIRED",
    413: "SIZE_EXCEEDED",
    416: "RANGE_NOT_SATISFIABLE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error(
    code: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {
            "status": _STATUS.get(code, "UNKNOWN"),
            "code": code,
            "message": message,
            "details": [{"@type": "ErrorInfo", "reason": reason, "domain": DOMAIN}],
        }
    }
    return JSONResponse(body, status_code=code, headers=headers)
