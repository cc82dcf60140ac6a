"""One small Node subclass per primitive: forward on arrays, backward as a rule on arrays or
tensors (``xp`` is the numpy backend, or the tensor backend when ``create_graph=True``)."""
