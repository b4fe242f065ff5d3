"""Curvature of a model's loss: the Hessian operator, its eigen-solvers and trace, the sharpness measurer."""
