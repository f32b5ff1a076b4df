"""The ``recsys nurture round | handoff`` commands, added to the ``recsys`` parser by :mod:`recsys.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.exceptions import DataValidationError

if TYPE_CHECKING:
    from recsys.nurture.rounds import RoundResult

__all__ = ["add_nurture_commands"]


def add_nurture_commands(commands: Any) -> None:
    """Add the ``nurture`` command and its subcommands to the ``recsys`` subparsers."""
    nurture = commands.add_parser("nurture", help="run nurture campaign rounds and export the sales hand-off")
    actions = nurture.add_subparsers(dest="nurture_command", required=True)

    round_parser = actions.add_parser(
        "round",
        help="pick, cap and record one round of a campaign, and write its sends",
        description="Columns of --out: campaign_id, round, lead_id, rank, item_id, description, score, "
        "reason, backfill, because, reason_text, model_version, sent_at, already_sent, "
        "engagement_score, grade, stage, engagement_breakdown (see recsys.nurture.ROUND_COLUMNS).",
    )
    round_parser.add_argument(
        "--campaign",
        required=True,
        help="campaign file (.json or .toml, keys as recsys.nurture.Campaign), or a campaign id "
        "used with the options below",
    )
    round_parser.add_argument(
        "--round", type=int, required=True, dest="round_number", help="round number, from 1"
    )
    round_parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of a campaign given by id (default 3)"
    )
    round_parser.add_argument(
        "--items-per-round",
        type=int,
        default=3,
        help="products per lead and round, for a campaign id (default 3)",
    )
    round_parser.add_argument(
        "--cooldown-days",
        type=float,
        default=90.0,
        help="days before an item may be sent to the same lead again, for a campaign id (default 90)",
    )
    round_parser.add_argument(
        "--max-item-share",
        type=float,
        help="largest share (0-1] of the round's leads one item may go to, for a campaign id (default: no cap)",
    )
    round_parser.add_argument(
        "--leads", type=Path, required=True, help="lead ids, one per line (.txt, .csv, .parquet)"
    )
    round_parser.add_argument("--dry-run", action="store_true", help="pick the items but record nothing")
    _common(round_parser)
    round_parser.add_argument(
        "--ledger",
        default=None,
        help="database URL of the send ledger, e.g. sqlite:///ledger.db or postgresql+psycopg://... "
        "(default sqlite:///nurture_ledger.db)",
    )
    round_parser.set_defaults(handler=_round)

    handoff_parser = actions.add_parser(
        "handoff",
        help="write the hot leads at the final stage with their top products, for sales",
        description="Columns of --out: lead_id, engagement_score, grade, stage, engagement_breakdown, "
        "last_event_at, top_products, product_descriptions, reasons, model_version, scored_at "
        "(see recsys.nurture.HANDOFF_COLUMNS).",
    )
    handoff_parser.add_argument(
        "--leads", type=Path, help="consider only these lead ids (default: every lead in --events)"
    )
    handoff_parser.add_argument("-n", type=int, default=3, help="products per lead (default 3)")
    _common(handoff_parser)
    handoff_parser.add_argument(
        "--ledger",
        default=None,
        help="database URL of the send ledger; products sent within 90 days are left out",
    )
    handoff_parser.set_defaults(handler=_handoff)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory")
    parser.add_argument(
        "--events",
        type=Path,
        help="nurture events (.csv, .csv.gz, .parquet): user_id or lead_id, event, timestamp, "
        "optional item_id and weight",
    )
    parser.add_argument(
        "--engagement", type=Path, help="engagement config (.json or .toml); default: built-in rules"
    )
    parser.add_argument("--now", help="ISO 8601 time of the run (default: the current time, UTC)")
    parser.add_argument(
        "--recent-after",
        help="only events after this ISO 8601 time join the lead histories, e.g. the model's training end",
    )
    parser.add_argument("--out", type=Path, required=True, help="output file: .csv, .parquet or .json")


def _campaign(args: argparse.Namespace) -> Any:
    from recsys.nurture import Campaign

    path = Path(args.campaign)
    if path.suffix in (".json", ".toml"):
        return Campaign.from_file(path)
    return Campaign(
        args.campaign,
        rounds=args.rounds,
        items_per_round=args.items_per_round,
        cooldown_days=args.cooldown_days,
        max_item_share=args.max_item_share,
    )


def _inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from recsys.data import read_table
    from recsys.nurture import EngagementConfig
    from recsys.persistence import load_model

    model = load_model(args.model)
    events = None if args.events is None else read_table(args.events, "nurture events")
    config = None if args.engagement is None else EngagementConfig.from_file(args.engagement)
    return model, events, config


def _round(args: argparse.Namespace) -> int:
    from recsys.batch import read_user_ids
    from recsys.nurture import SendLedger, run_round, write_table

    campaign = _campaign(args)
    campaign.check_round(args.round_number)
    if args.out.suffix.lower() not in (".csv", ".parquet", ".json"):
        raise DataValidationError(f"--out must end in .csv, .parquet or .json; got {str(args.out)!r}")
    model, events, config = _inputs(args)
    leads = read_user_ids(args.leads)
    with SendLedger(args.ledger) as ledger:
        result = run_round(
            campaign,
            args.round_number,
            model,
            ledger,
            leads,
            events,
            now=args.now,
            engagement=config,
            recent_after=args.recent_after,
            dry_run=args.dry_run,
            show_progress=not args.quiet,
        )
    write_table(result.to_frame(model), args.out)
    sent = sum(1 for plan in result.plans if plan.items)
    print(
        f"campaign {campaign.campaign_id!r} round {result.round}: {len(result.plans)} leads targeted, "
        f"{sent} with items ({_recorded_text(result, args.dry_run)}); "
        f"caps kept {result.caps.share_kept:.1%} of the score; wrote {args.out}"
    )
    return 0


def _handoff(args: argparse.Namespace) -> int:
    from recsys.batch import read_user_ids
    from recsys.nurture import SendLedger, handoff, write_table

    if args.events is None:
        raise DataValidationError("--events is required: the hand-off grades leads from their events")
    model, events, config = _inputs(args)
    leads = None if args.leads is None else read_user_ids(args.leads)
    ledger = None if args.ledger is None else SendLedger(args.ledger)
    try:
        frame = handoff(
            model,
            events,
            leads=leads,
            config=config,
            now=args.now,
            n=args.n,
            ledger=ledger,
            recent_after=args.recent_after,
        )
    finally:
        if ledger is not None:
            ledger.close()
    write_table(frame, args.out)
    print(f"{len(frame)} hot leads at the final stage; wrote {args.out}")
    return 0


def _recorded_text(result: RoundResult, dry_run: bool) -> str:
    """Describe what the run wrote to the ledger, so a re-run does not read as a new send."""
    if dry_run:
        return "dry run, nothing recorded"
    earlier = sum(1 for plan in result.plans if plan.items and plan.already_sent)
    text = f"{result.sends_recorded} recorded now"
    if earlier:
        text += f", {earlier} recorded by an earlier run"
    return text
