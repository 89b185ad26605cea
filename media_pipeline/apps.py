from django.apps import AppConfig


class MediaPipelineConfig(AppConfig):
    name = "media_pipeline"
    verbose_name = "Media pipeline"

    def ready(self):
        from media_pipeline.jobtypes import load_all

        load_all()  # registers the job types
