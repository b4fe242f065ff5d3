"""``stablesam verify``: the paper's claims, their decision rules and statistics, the runner and the report."""
