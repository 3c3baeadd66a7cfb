"""What each step of the current run took and did, for gold/builds (read from Dagster's run stats)."""

import dagster as dg

# Metadata entries that say what a step did, in order of preference.
OUTCOME_KEYS = ("outcome", "retrain_decision")


def _outcome(events) -> str | None:
    said = []
    for event in events:
        materialization = event.asset_materialization
        metadata = materialization.metadata if materialization else {}
        for key in OUTCOME_KEYS:
            if key in metadata:
                said.append(f"{materialization.asset_key.to_user_string()}: {metadata[key].value}")
                break
    return "; ".join(said) or None


def finished_stages(context: dg.AssetExecutionContext) -> list[dict]:
    """Every step of this run that has finished: stage (step key), seconds and outcome."""
    stages = []
    for stats in context.instance.get_run_step_stats(context.run.run_id):
        if stats.end_time is None or stats.start_time is None:
            continue
        stages.append({"stage": stats.step_key, "seconds": round(stats.end_time - stats.start_time, 2),
                       "outcome": _outcome(stats.materialization_events)})
    return sorted(stages, key=lambda s: s["stage"])
