"""Planner: turns the operator's zipcode file into sealed, self-revealing epoch assignments."""
