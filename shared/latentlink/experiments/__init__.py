"""Experiments that train and evaluate together (the paper's Table I).

Above both :mod:`latentlink.training` and :mod:`latentlink.evaluation`, so that training may use
evaluation code but neither of them depends on an experiment.
"""
