"""Job types of the media pipeline: each module registers its types with the job engine when
imported (`MediaPipelineConfig.ready()` loads them all)."""
