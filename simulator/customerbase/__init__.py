"""Customer-base models of repeat buying fitted to an order log (BG/NBD).

Pure statistics on (frequency, recency, age) summaries, independent of the simulator.
"""
