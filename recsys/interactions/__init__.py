"""User-product interactions: real events or a persona simulator, and the time-based split."""

from recsys.interactions.build import InteractionsBuild, build_interactions
from recsys.interactions.events import EventsResult, read_events
from recsys.interactions.personas import PERSONAS, Persona, affinity, persona_names
from recsys.interactions.schema import INTERACTION_SCHEMA, RATING_SCALE, SPLIT_SCHEMA, SPLITS
from recsys.interactions.simulator import SimulationResult, SimulatorSettings, simulate
from recsys.interactions.split import (SplitSettings, SplitResult, cold_start_items, cold_start_users, leakage_report,
                                       split_interactions)

__all__ = [
    "INTERACTION_SCHEMA", "RATING_SCALE", "SPLIT_SCHEMA", "SPLITS", "EventsResult", "InteractionsBuild", "PERSONAS",
    "Persona", "SimulationResult", "SimulatorSettings", "SplitSettings", "SplitResult", "affinity", "build_interactions",
    "cold_start_items", "cold_start_users", "leakage_report", "persona_names", "read_events", "simulate",
    "split_interactions",
]
