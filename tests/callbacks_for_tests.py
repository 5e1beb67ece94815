"""A scikit-learn callback (``sklearn.callback`` protocol) that the tests
subclass: it counts the epochs that end and lets a subclass act on them."""


class EpochCallback:
    """Counts the ends of epoch tasks; ``on_epoch_end(count)`` returns
    whether to stop."""

    def __init__(self, n):
        self.n = n
        self.ends = 0

    def setup(self, estimator, context):
        self.ends = 0

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.task_name == "epoch":
            self.ends += 1
            return self.on_epoch_end(self.ends)
        return False

    def on_epoch_end(self, count):
        return False
