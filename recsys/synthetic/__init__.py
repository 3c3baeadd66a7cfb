"""Synthetic raw lakes of any size in the real raw formats, for scaling runs and tests.

``generate_lake(out, SyntheticLakeSettings(products=N, users=M, seed=S))`` writes ``<out>/raw/``:
the three catalog CSV formats with a controlled share of the real quirks, procedurally drawn
product images, and M users' events with taste and popularity structure. The same command-line
tool: ``python -m recsys.synthetic --products N --users M --out DIR --seed S``.
"""

from recsys.synthetic.lake import SUMMARY_FILE, LakeSummary, SyntheticLakeSettings, generate_lake

__all__ = ["SUMMARY_FILE", "LakeSummary", "SyntheticLakeSettings", "generate_lake"]
