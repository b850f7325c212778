"""Every status change of an ExportBundle, in one table (applied by compare-and-set, see dsr.transitions)."""
from __future__ import annotations

from enum import StrEnum

from dsr.models import BundleStatus as B
from dsr.models import ExportBundle
from dsr.transitions import TransitionTable


class BundleEvent(StrEnum):
    STORED = "stored"  # written, sealed, renamed into place: staff review it
    FAIL = "fail"  # the assembly's last attempt failed
    RESTART = "restart"  # staff start a failed assembly again
    RELEASE = "release"  # staff release the reviewed bundle to the subject
    REASSEMBLE = "reassemble"  # staff redacted it, or chose a full or delta answer: it is made again
    EXPIRE = "expire"  # past its expiry: the file is deleted, the row kept as proof


BUNDLE_STATES = TransitionTable(ExportBundle, "status", {
    (B.ASSEMBLING, BundleEvent.STORED): B.READY_FOR_REVIEW,
    (B.ASSEMBLING, BundleEvent.FAIL): B.FAILED,
    (B.FAILED, BundleEvent.RESTART): B.ASSEMBLING,
    (B.READY_FOR_REVIEW, BundleEvent.RELEASE): B.RELEASED,
    (B.READY_FOR_REVIEW, BundleEvent.REASSEMBLE): B.ASSEMBLING,
    (B.RELEASED, BundleEvent.EXPIRE): B.EXPIRED,
})
