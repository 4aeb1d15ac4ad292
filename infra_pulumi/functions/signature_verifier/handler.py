"""signature-verifier: checks the HMAC-SHA256 signature partners attach to each record.

Signatures are stretched over SIGNATURE_ROUNDS rounds of PBKDF2, so the work is CPU-bound.
"""

import hashlib
import hmac
import os

from lambdaopt_shared import log_event


def signature(payload: str, key: str, rounds: int) -> str:
    return hashlib.pbkdf2_hmac("sha256", payload.encode(), key.encode(), rounds).hex()


def handler(event, context):
    rounds = int(os.environ.get("SIGNATURE_ROUNDS", "2000"))
    verified, rejected = 0, 0
    for item in event.get("records", []):
        expected = signature(item["payload"], item["partner_key"], rounds)
        if hmac.compare_digest(expected, item.get("signature", "")):
            verified += 1
        else:
            rejected += 1
    log_event("INFO", "verified signatures", verified=verified, rejected=rejected)
    return {"verified": verified, "rejected": rejected}
