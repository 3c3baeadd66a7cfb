"""The retrain policy every trained model's config carries (see recsys.retraining)."""

import dagster as dg

from recsys.retraining import RetrainDecision, RetrainPolicy


class RetrainConfig(dg.Config):
    """When a build retrains the model instead of reusing the pinned one."""

    every_days: float = 7.0
    """Retrain when the saved model is at least this old (weekly by default)."""
    max_drift: float = 0.10
    """Retrain when more than this share of the training keys was added or removed since it was trained."""
    force: bool = False
    """Retrain now, whatever the age and drift."""

    def policy(self) -> RetrainPolicy:
        return RetrainPolicy(every_days=self.every_days, max_drift=self.max_drift, force=self.force)


def decision_metadata(decision: RetrainDecision) -> dict:
    """What the UI shows about the decision: retrained or pinned, and why."""
    described = decision.describe()
    return {"retrained": decision.retrain, "retrain_decision": decision.reason,
            **{f"retrain_{k}": described[k] for k in ("drift", "age_days") if described[k] is not None}}
