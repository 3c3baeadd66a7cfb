"""The retrain policy: pinned models are reused until they age, drift or their settings change."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from recsys import retraining
from recsys.retraining import RetrainPolicy, TrainingData

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def _data(n: int = 100, settings: dict | None = None, start: int = 0) -> TrainingData:
    return TrainingData(settings=settings or {"factors": 32}, keys=pl.Series([f"k{i}" for i in range(start, start + n)]))


def test_a_model_without_a_record_is_trained(tmp_path):
    decision = retraining.decide(tmp_path, _data(), RetrainPolicy(), NOW)
    assert decision.retrain and "no saved model" in decision.reason


def test_a_fresh_model_on_nearly_the_same_data_is_pinned(tmp_path):
    retraining.write_record(tmp_path, _data(), NOW - timedelta(days=2))
    decision = retraining.decide(tmp_path, _data(start=1), RetrainPolicy(), NOW)   # 1 key out, 1 key in: 2%
    assert not decision.retrain and decision.drift == 0.02 and round(decision.age_days) == 2


def test_age_drift_settings_and_force_each_trigger_a_retrain(tmp_path):
    retraining.write_record(tmp_path, _data(), NOW - timedelta(days=2))
    assert retraining.decide(tmp_path, _data(), RetrainPolicy(every_days=1), NOW).retrain
    drifted = retraining.decide(tmp_path, _data(start=20), RetrainPolicy(), NOW)
    assert drifted.retrain and "drifted 40.0%" in drifted.reason
    assert retraining.decide(tmp_path, _data(settings={"factors": 64}), RetrainPolicy(), NOW).retrain
    assert retraining.decide(tmp_path, _data(), RetrainPolicy(force=True), NOW).retrain


def test_forget_unpins_a_model_whose_save_may_not_have_finished(tmp_path):
    retraining.write_record(tmp_path, _data(), NOW)
    assert retraining.trained_at(tmp_path) == NOW.isoformat()
    retraining.forget(tmp_path)
    assert retraining.decide(tmp_path, _data(), RetrainPolicy(), NOW).retrain and retraining.trained_at(tmp_path) is None


def _saving_fit(folder, fits: list):
    """A fit that 'trains' (counts itself), saves a marker file and records it in the same folder."""
    def fit(record):
        fits.append(1)
        (folder / "model.txt").write_text(f"model {len(fits)}")
        record(folder)
        return f"model {len(fits)}"
    return fit


def test_fit_or_pin_fits_once_then_reuses_the_pinned_result(tmp_path):
    fits: list = []
    pinned = lambda: (tmp_path / "model.txt").read_text() if (tmp_path / "model.txt").exists() else None  # noqa: E731
    first = retraining.fit_or_pin(tmp_path, _data(), RetrainPolicy(), pinned=pinned, fit=_saving_fit(tmp_path, fits),
                                  now=NOW)
    assert first.fitted and first.result == "model 1" and retraining.trained_at(tmp_path) == NOW.isoformat()
    again = retraining.fit_or_pin(tmp_path, _data(), RetrainPolicy(), pinned=pinned, fit=_saving_fit(tmp_path, fits),
                                  now=NOW + timedelta(days=1))
    assert not again.fitted and again.result == "model 1" and len(fits) == 1
    forced = retraining.fit_or_pin(tmp_path, _data(), RetrainPolicy(force=True), pinned=pinned,
                                   fit=_saving_fit(tmp_path, fits), now=NOW + timedelta(days=1))
    assert forced.fitted and forced.result == "model 2"


def test_fit_or_pin_fits_when_the_pinned_result_is_gone(tmp_path):
    retraining.write_record(tmp_path, _data(), NOW)     # a record, but nothing saved beside it
    fits: list = []
    outcome = retraining.fit_or_pin(tmp_path, _data(), RetrainPolicy(), pinned=lambda: None,
                                    fit=_saving_fit(tmp_path, fits), now=NOW)
    assert outcome.result == "model 1" and fits == [1]


def test_fit_or_pin_refuses_a_fit_that_records_nothing(tmp_path):
    retraining.write_record(tmp_path, _data(), NOW - timedelta(days=30))   # old: retrained, old record dropped
    with pytest.raises(RuntimeError, match="no training record"):
        retraining.fit_or_pin(tmp_path, _data(), RetrainPolicy(), pinned=lambda: "old", fit=lambda record: "new",
                              now=NOW)
