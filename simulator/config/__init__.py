"""The scenario file: its schema (pydantic), YAML reading and patches.

The lowest simulator layer. Nothing here simulates; the engine, the levers and the measurement
tools read the validated :class:`~simulator.config.scenario.Scenario`.
"""
