"""Multi-fidelity trial schedulers: successive halving, ASHA, Hyperband, BOHB, DEHB, BFBO, PBT."""
