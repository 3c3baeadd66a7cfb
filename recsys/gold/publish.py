"""Which Parquet files become which DuckDB warehouse tables, sorted and indexed for point lookups
(``recsys.warehouse.WarehouseTable.index_columns``); ids stay plain strings."""

from __future__ import annotations

from pathlib import Path

from recsys.gold.schemas import GOLD_TABLES
from recsys.warehouse import WarehouseTable

EVALUATION_DIR = "evaluation"


def gold_warehouse_tables(gold_dir: Path) -> list[WarehouseTable]:
    """Every gold table (all required) plus whatever gold/evaluation/<name>.parquet exists,
    published as ``evaluation_<name>``."""
    gold_dir = Path(gold_dir)
    missing = [name for name in GOLD_TABLES if not (gold_dir / f"{name}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"gold tables missing in {gold_dir}: {missing}; materialize them first")
    tables = [WarehouseTable(t.name, gold_dir / f"{t.name}.parquet", t.order_by, t.lookup_columns)
              for t in GOLD_TABLES.values()]
    evaluation = gold_dir / EVALUATION_DIR
    if evaluation.is_dir():
        for path in sorted(evaluation.iterdir()):
            if path.suffix == ".parquet" and not path.name.startswith("."):
                tables.append(WarehouseTable(f"evaluation_{path.stem}", path))
    return tables
