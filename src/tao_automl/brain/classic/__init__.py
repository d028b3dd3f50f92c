"""Single-fidelity brains: random, TPE, and the GP Bayesian brain (with its GP and acquisition)."""
