# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run at a time per account-region: a lock held in the account itself, as an SSM parameter.

The account is where two runs meet - two AWX jobs on different execution nodes, or a job and someone's laptop -
so the lock lives there rather than on a controller. PutParameter without Overwrite creates a parameter only if
none exists (ParameterAlreadyExists otherwise), which makes taking the lock atomic. The lock carries its holder and
when it expires, so a run that dies without releasing it blocks the next ones only until then; an expired lock is
deleted and taken anew (a run that slept through its own expiry may then find its lock gone, and says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_NAME = "/tap-lambdaopt/run-lock"


@dataclass(frozen=True)
class Lock:
    holder: str
    acquired_at: str
    expires_at: str
    purpose: str = ""

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.expires_at) <= now

    def as_dict(self) -> dict:
        return {"holder": self.holder, "acquired_at": self.acquired_at, "expires_at": self.expires_at,
                "purpose": self.purpose}

    @classmethod
    def parse(cls, text: str) -> Lock:
        fields = json.loads(text)
        return cls(fields["holder"], fields["acquired_at"], fields["expires_at"], fields.get("purpose", ""))

    @classmethod
    def new(cls, holder: str, ttl_seconds: int, purpose: str, now: datetime) -> Lock:
        return cls(holder, now.isoformat(timespec="seconds"),
                   (now + timedelta(seconds=ttl_seconds)).isoformat(timespec="seconds"), purpose)


def held(ssm, name: str) -> Lock | None:
    """The lock as it stands, or None."""
    try:
        return Lock.parse(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None
    except (ValueError, KeyError) as error:
        # Not written by this collection: never taken over, never deleted.
        raise LockError(f"the SSM parameter {name} exists but is not a tap.lambdaopt run lock; choose another "
                        f"name") from error


class LockError(Exception):
    """The lock cannot be taken or released, and why."""


def try_acquire(ssm, name: str, lock: Lock, now: datetime | None = None,
                taken_over: list | None = None) -> Lock | None:
    """Take the lock: None when taken, else the lock that holds it. An expired lock is deleted and taken anew, and
    appended to `taken_over`: its run ended without releasing it (killed, most likely), which the caller reports."""
    now = now or datetime.now(UTC)
    for _attempt in range(2):
        try:
            ssm.put_parameter(Name=name, Value=json.dumps(lock.as_dict()), Type="String", Overwrite=False,
                              Description="tap.lambdaopt: one optimize or rollback run at a time in this region")
            return None
        except ssm.exceptions.ParameterAlreadyExists:
            current = held(ssm, name)
            if current is None:
                continue  # released in between
            if current == lock:
                return None  # our own write, its answer lost: the retry found the lock it had taken
            if not current.expired(now):
                return current
            ssm.delete_parameter(Name=name)
            if taken_over is not None:
                taken_over.append(current)
    return held(ssm, name)


def release(ssm, name: str, holder: str, force: bool = False) -> Lock | None:
    """Release the lock this holder took (or any, with force); the lock released, or None if there was none."""
    current = held(ssm, name)
    if current is None:
        return None
    if current.holder != holder and not force:
        raise LockError(f"the lock {name} is held by {current.holder}, not {holder}: it was left in place")
    ssm.delete_parameter(Name=name)
    return current
