"""Core re-exports Starlette's request and responses."""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["HTTPException", "JSONResponse", "Request"]
