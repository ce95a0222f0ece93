"""API tokens, roles and the access control every request passes."""

from headwater.auth.access import TOKEN_COOKIE as TOKEN_COOKIE
from headwater.auth.access import AccessControl as AccessControl
from headwater.auth.access import Open as Open
from headwater.auth.access import Rules as Rules
from headwater.auth.access import actor_of as actor_of
from headwater.auth.access import authenticate_token as authenticate_token
from headwater.auth.tokens import ANONYMOUS as ANONYMOUS
from headwater.auth.tokens import Principal as Principal
from headwater.auth.tokens import Role as Role
from headwater.auth.tokens import TokenInfo as TokenInfo
from headwater.auth.tokens import create_token as create_token
from headwater.auth.tokens import list_tokens as list_tokens
from headwater.auth.tokens import parse_role as parse_role
from headwater.auth.tokens import revoke_token as revoke_token

__all__ = [
    "ANONYMOUS",
    "TOKEN_COOKIE",
    "AccessControl",
    "Open",
    "Principal",
    "Role",
    "Rules",
    "TokenInfo",
    "actor_of",
    "authenticate_token",
    "create_token",
    "list_tokens",
    "parse_role",
    "revoke_token",
]
