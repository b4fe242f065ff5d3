__all__ = ["excess_risk", "growth_recursion", "least_squares", "schedules", "uniform_stability"]
