from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = "Delete finished jobs whose retention (EF_JOB_RETENTION_DAYS) is over, with exactly their files."

    def handle(self, *args, **options):
        counts = services.jobs_cleanup_expired()
        self.stdout.write(
            f"cleanup: {counts['jobs']} expired job(s) and {counts['files']} file(s) deleted"
        )
