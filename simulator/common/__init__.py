"""Helpers every layer uses: number formatting and HTML tables.

The lowest layer: it imports nothing else of the toolkit.
"""
