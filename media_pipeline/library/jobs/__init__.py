"""Job types of the library: their handlers work on library rows, and the rows follow the jobs
through the types' on_change hooks (registered by `MediaPipelineConfig.ready()`)."""
