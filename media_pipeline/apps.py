from django.apps import AppConfig


class MediaPipelineConfig(AppConfig):
    name = "media_pipeline"
    verbose_name = "Media pipeline"

    def ready(self):
        from django.core import checks

        from jobs.registry import load_job_types
        from media_pipeline.checks import ffmpeg_check

        checks.register(ffmpeg_check, "media_pipeline")

        load_job_types("media_pipeline.jobtypes")
        # The library's job types, whose rows (projects, clips, exports) follow their jobs.
        load_job_types("media_pipeline.library.jobs")
