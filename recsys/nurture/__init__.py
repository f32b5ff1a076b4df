"""Nurture campaigns: next-best products per lead and round, engagement grades, sales hand-off.

A push :class:`Campaign` sends every lead of a list its best products in round 1;
round ``k`` goes only to the leads who engaged after round ``k - 1``, with their
next-best products. :func:`run_round` picks the products with a fitted model,
assigns the whole round under exposure caps and records each send in a
:class:`SendLedger` (SQL tables of its own), so that a lead is never sent an item
again within the cooldown and re-running a round records nothing twice.

On the pull side, :func:`score_leads` turns a lead's events into a decayed
engagement score, a grade (A hot, B warm, C cold) and a funnel stage, with the
rules of an :class:`EngagementConfig`. :func:`handoff` lists the hot leads at the
final stage with their top products and reasons, for sales.

Example::

    from recsys.nurture import Campaign, SendLedger, run_round

    campaign = Campaign("autumn", rounds=3, items_per_round=3, max_item_share=0.1)
    with SendLedger("sqlite:///ledger.db") as ledger:
        result = run_round(campaign, 1, model, ledger, leads, events)
        result.to_frame(model)
"""

from recsys.nurture._frames import normalize_events
from recsys.nurture.assign import CapReport, assign_round
from recsys.nurture.campaign import Campaign
from recsys.nurture.engagement import (
    DEFAULT_POINTS,
    DEFAULT_STAGES,
    GRADES,
    Engagement,
    EngagementConfig,
    StageRule,
    score_leads,
)
from recsys.nurture.export import HANDOFF_COLUMNS, ROUND_COLUMNS, handoff, round_frame, write_table
from recsys.nurture.ledger import DEFAULT_LEDGER_URL, METADATA, Send, SendLedger, SentItem
from recsys.nurture.replay import bootstrap_interval, send_hits
from recsys.nurture.rounds import LeadPlan, RoundResult, engaged_leads, next_best, run_round

__all__ = [
    "DEFAULT_LEDGER_URL",
    "DEFAULT_POINTS",
    "DEFAULT_STAGES",
    "GRADES",
    "HANDOFF_COLUMNS",
    "METADATA",
    "ROUND_COLUMNS",
    "Campaign",
    "CapReport",
    "Engagement",
    "EngagementConfig",
    "LeadPlan",
    "RoundResult",
    "Send",
    "SendLedger",
    "SentItem",
    "StageRule",
    "assign_round",
    "bootstrap_interval",
    "engaged_leads",
    "handoff",
    "next_best",
    "normalize_events",
    "round_frame",
    "run_round",
    "score_leads",
    "send_hits",
    "write_table",
]
