"""Multi-objective sweeps: the ``metric`` list shape, Pareto fronts, the knee, and ParEGO scalarisation."""
