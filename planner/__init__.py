"""Planner: turns the operator's zipcode file into sealed, self-revealing epoch assignments."""

__version__ = "0.1.0"
