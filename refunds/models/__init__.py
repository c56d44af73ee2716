"""The refunds app's models, one module per part of the domain.

``policies``: refund policies, their time tiers and special rules (the rules as data, versioned).
``quotes``: quote snapshots and their lines (a computed quote, written once).
``requests``: the refund request, its states and tiers, its evidence.
``approvals``: each campus's approval settings, the approval steps, the approval queue.
``events``: the transition log and the domain events.

Every name is re-exported here: ``from refunds.models import RefundRequest`` is the way in.
"""

from .approvals import ApprovalQueueItem, ApprovalSettings, ApprovalStep, StepDecision
from .events import RefundEvent, RefundEventKind, RefundTransition
from .fields import PercentField
from .policies import (
    MAX_POLICY_DAYS,
    PERCENT_VALIDATORS,
    ConsumptionBasis,
    DayAnchor,
    NotifyChannel,
    PolicyMode,
    RefundPolicy,
    RefundReason,
    RefundSpecialRule,
    RefundTier,
    default_notify_channels,
    tier_set_errors,
)
from .quotes import QuoteLineKind, QuoteMethod, QuoteSnapshot, QuoteSnapshotLine
from .requests import (
    CLOSED_STATES,
    MONEY_STATES,
    OPEN_STATES,
    PENDING_STATES,
    TIER_STATUS,
    ApprovalTier,
    ConsentChannel,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    RequestKind,
    evidence_upload_to,
)

__all__ = [
    "CLOSED_STATES",
    "MAX_POLICY_DAYS",
    "MONEY_STATES",
    "OPEN_STATES",
    "PENDING_STATES",
    "PERCENT_VALIDATORS",
    "TIER_STATUS",
    "ApprovalQueueItem",
    "ApprovalSettings",
    "ApprovalStep",
    "ApprovalTier",
    "ConsumptionBasis",
    "DayAnchor",
    "NotifyChannel",
    "PercentField",
    "PolicyMode",
    "QuoteLineKind",
    "QuoteMethod",
    "QuoteSnapshot",
    "QuoteSnapshotLine",
    "RefundEvent",
    "RefundEventKind",
    "RefundEvidence",
    "RefundPolicy",
    "RefundReason",
    "RefundRequest",
    "RefundSpecialRule",
    "RefundStatus",
    "ConsentChannel",
    "RefundTier",
    "RefundTransition",
    "RequestKind",
    "StepDecision",
    "default_notify_channels",
    "evidence_upload_to",
    "tier_set_errors",
]
