"""The fit check: does a model fit these GPUs, how to split it, how long a context it can serve."""
