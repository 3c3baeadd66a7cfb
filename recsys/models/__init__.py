"""Recommenders sharing one interface (``base.Recommender``): popularity, ALS, two-tower."""
