"""Example attriflow plug-in: ``gradient_x_smoothed`` (a method) and ``tiny_cnn`` (a model)."""
