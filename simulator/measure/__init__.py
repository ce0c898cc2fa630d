"""Measurement on the simulator: replications, incrementality, A/B tests, attribution, CLV.

Replications run on common random numbers; incrementality and attribution are graded against
the simulated truth. Every tool here runs the engine; none is imported by it.
"""
