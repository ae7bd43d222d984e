"""Accounts, passwords, API tokens and the security log (``Engine.accounts``).

One room in small modules: ``tokens`` (the token's format and checksum), ``passwords``
(argon2id), ``chain`` (the security log's hash chain, made with the timeline's hash and
seal), ``store`` (the rows, on the bare driver), ``models`` (what is handed out) and
``manager`` (``Accounts``, the room itself).
"""

from irflow.engine.accounts.manager import Accounts
from irflow.engine.accounts.models import (
    ACTIONS,
    Account,
    Principal,
    SecurityEvent,
    SecurityLogReport,
    TokenInfo,
)

__all__ = [
    "ACTIONS",
    "Account",
    "Accounts",
    "Principal",
    "SecurityEvent",
    "SecurityLogReport",
    "TokenInfo",
]
