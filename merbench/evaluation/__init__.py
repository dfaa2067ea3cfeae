"""What is predicted, how it is scored, folded and compared.

- ``tasks``: one ``TaskSpec`` per task; ``scoring``: one ``MetricSpec`` per metric.
- ``metrics``: a fold's metrics; ``bootstrap``: the paired group bootstrap of pooled predictions
  (``closed_forms``: the ranking metrics from summed statistics); ``stats``: intervals, paired
  tests, tiers.
- ``cv``: fold makers (grouped, random, inner validation); ``budgets``: folds, trials, epochs.

Nothing here reads audio, trains a model or touches a store.
"""
