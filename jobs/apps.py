from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from jobs.counts import on_post_migrate

        # The count ledgers' triggers, (re)installed after every migrate (see jobs.counts).
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="jobs.counts")
