"""Experiments that train or scan models: edge of stability, step statistics, learning-rate scans, blow-up runs,
measured thresholds, exact least squares, twin experiments and their stability estimates."""
