"""The retrain policy every trained model's config carries (see recsys.retraining)."""

import dagster as dg
import polars as pl

from assets import keys
from assets.defaults import field_default, from_config
from recsys import retraining
from recsys.retraining import RetrainDecision, RetrainPolicy, TrainingData
from resources import LakeResource

TRAINED_MODELS = (keys.IMAGE_TOWER, keys.ALS_MODEL, keys.TWO_TOWER_MODEL)


class RetrainConfig(dg.Config):
    """When a build retrains the model instead of reusing the pinned one."""

    every_days: float = field_default(RetrainPolicy, "every_days")
    """Retrain when the saved model is at least this old (weekly by default)."""
    max_drift: float = field_default(RetrainPolicy, "max_drift")
    """Retrain when more than this share of the training keys was added or removed since it was trained."""
    force: bool = field_default(RetrainPolicy, "force")
    """Retrain now, whatever the age and drift."""

    def policy(self) -> RetrainPolicy:
        return from_config(RetrainPolicy, self)


def decision_metadata(decision: RetrainDecision) -> dict:
    """What the UI shows about the decision: retrained or pinned, and why."""
    described = decision.describe()
    return {"retrained": decision.retrain, "retrain_decision": decision.reason,
            **{f"retrain_{k}": described[k] for k in ("drift", "age_days") if described[k] is not None}}


def model_versions(lake: LakeResource) -> dict:
    """When each trained model was trained and which encoders made the content vectors: what a stage
    tuned or scored on top of the models (hybrid weights, evaluation) must be redone for."""
    embeddings = lake.table_path(keys.ITEM_EMBEDDINGS)
    encoders = (pl.read_parquet(embeddings, columns=["encoder", "encoder_version"]).unique().sort("encoder").rows()
                if embeddings.exists() else [])
    return {**{keys.lake_path(model): retraining.trained_at(lake.path(model)) for model in TRAINED_MODELS},
            "encoders": [list(row) for row in encoders]}


def stage_data(lake: LakeResource, config: dg.Config, split: str, **upstream) -> TrainingData:
    """A tuning/evaluation stage's inputs for the retrain policy: its settings, the model versions (and
    any ``upstream`` versions) and the pairs of the split it reads."""
    settings = {k: v for k, v in config.model_dump().items() if k != "retrain"}
    return TrainingData(settings={"config": settings, "models": model_versions(lake), **upstream},
                        keys=retraining.split_pair_keys(lake.read(keys.INTERACTION_SPLIT), split))
