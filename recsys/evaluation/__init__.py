"""Offline evaluation: metric definitions, protocols and the evaluation report."""
