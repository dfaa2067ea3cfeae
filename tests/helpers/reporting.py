"""A reporter that keeps what a run tells it: the cells it finished, with their status."""

from __future__ import annotations


class Recorder:
    def __init__(self):
        self.finished = []

    def run_started(self, total, done):
        self.total = total

    def cell_started(self, key):
        pass

    def cells_planned(self, costs, workers):
        self.costs = dict(costs)

    def epoch_ended(self, key, step):
        pass

    def cell_finished(self, key, status, summary):
        self.finished.append((key.label(), status))

    def message(self, text):
        pass
